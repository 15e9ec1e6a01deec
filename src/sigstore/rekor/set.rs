//! SET

#[allow(clippy::wildcard_imports)]
use super::*;

/// Verifies a signed entry timestamp (legacy cosign bundle annotation / bundle
/// `inclusionPromise`): the log key's signature over the canonical JSON
/// `{"body":"<body_b64>","integratedTime":N,"logID":"<hex log id>","logIndex":N}` (keys sorted,
/// no whitespace). `body_b64` is the base64 body exactly as logged; `log_index` the entry's
/// (global) index. The integrated time must also lie inside the log's `validFor`.
///
/// # Errors
/// Negative index or time, a time outside the log's validity, or a signature that does not
/// verify.
pub fn verify_set(
    body_b64: &str,
    integrated_time: i64,
    log_index: i64,
    log: &Log,
    set: &[u8],
) -> Result<(), TlogError> {
    if log_index < 0 {
        return fail(
            TlogError::Set,
            format!("SET: negative logIndex {log_index}"),
        );
    }
    if integrated_time < 0 {
        return fail(
            TlogError::Set,
            format!("SET: negative integratedTime {integrated_time}"),
        );
    }
    if !log.valid_for.contains(integrated_time) {
        return fail(
            TlogError::Set,
            format!(
                "SET: integrated time {} is outside the validity of log {} ({})",
                crate::base::time::format_rfc3339(integrated_time),
                log.base_url,
                describe_range(log)
            ),
        );
    }
    let body = serde_json::to_string(body_b64)
        .map_err(|e| TlogError::Set(format!("SET: cannot encode the body: {e}")))?;
    let msg = format!(
        "{{\"body\":{body},\"integratedTime\":{integrated_time},\"logID\":\"{}\",\"logIndex\":{log_index}}}",
        hex::encode(&log.log_id)
    );
    log.key.verify(msg.as_bytes(), set).map_err(|e| {
        TlogError::Set(format!(
            "SET (signed entry timestamp) of log entry {log_index} does not verify with the key \
             of log {}: {e}",
            log.base_url
        ))
    })
}
