//! JSON rendering: the schema is the serde model itself.

use super::model::Report;

pub fn render(report: &Report) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(report).unwrap_or_else(|e| {
        format!("{{\"schema_version\":{},\"error\":\"cannot serialise report: {e}\"}}", report.schema_version)
            .into_bytes()
    });
    out.push(b'\n');
    out
}
