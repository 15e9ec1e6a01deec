//! Lenient leaves

#[allow(clippy::wildcard_imports)]
use super::*;

/// Any JSON value, kept only as far as a leaf field needs it.
#[derive(Debug, Default)]
pub(super) enum Scalar {
    #[default]
    Absent,
    Null,
    Bool,
    Num(f64),
    Str(String),
    List(Vec<Scalar>),
    Object,
}

impl Scalar {
    /// The trimmed string, when it is a non-blank string.
    pub(super) fn text(&self) -> Option<&str> {
        match self {
            Self::Str(s) if !s.trim().is_empty() => Some(s.trim()),
            _ => None,
        }
    }

    /// A number, or a string holding one.
    pub(super) fn number(&self) -> Option<f64> {
        match self {
            Self::Num(n) => Some(*n),
            Self::Str(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
    }

    /// A non-negative integral number usable as an index.
    pub(super) fn index(&self) -> Option<usize> {
        match self {
            Self::Num(n) if n.is_finite() && *n >= 0.0 && n.fract() == 0.0 && *n < 9.0e15 => {
                Some(*n as usize)
            }
            _ => None,
        }
    }

    /// The non-blank strings of a list (nothing for anything else).
    pub(super) fn texts(&self) -> impl Iterator<Item = &str> {
        let items: &[Scalar] = match self {
            Self::List(items) => items,
            _ => &[],
        };
        items.iter().filter_map(Scalar::text)
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Self::Absent => "absent",
            Self::Null => "null",
            Self::Bool => "a boolean",
            Self::Num(_) => "a number",
            Self::Str(_) => "a string",
            Self::List(_) => "an array",
            Self::Object => "an object",
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::Num(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Scalar, D2::Error> {
                Scalar::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Scalar>()? {
                    items.push(item);
                }
                Ok(Scalar::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Object)
            }
        }
        d.deserialize_any(V)
    }
}
