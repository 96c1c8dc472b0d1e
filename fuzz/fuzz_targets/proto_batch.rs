//! The collector's untrusted gRPC input: any bytes decode or fail cleanly, and
//! every record of a decoded batch maps to an ECS document whose written JSON
//! is valid and says what the document's tree says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use sonde_common::ecs::{Observer, alert_fields, flow_fields};
use sonde_proto::v1::{ExportRequest, export_request, record};

fuzz_target!(|data: &[u8]| {
    let Ok(request) = ExportRequest::decode(data) else {
        return;
    };
    if let Some(export_request::Message::Batch(batch)) = request.message {
        let observer = Observer {
            name: "fuzz".into(),
            hostname: None,
        };
        for r in batch.records {
            let fields = match &r.kind {
                Some(record::Kind::Flow(flow)) => flow_fields(flow, &observer),
                Some(record::Kind::Alert(alert)) => alert_fields(alert, &observer),
                _ => continue,
            };
            let mut json = Vec::new();
            fields.write_json(&mut json);
            let parsed: serde_json::Value =
                serde_json::from_slice(&json).expect("the writer wrote invalid JSON");
            assert_eq!(parsed, fields.into_value(), "written JSON and tree differ");
        }
    }
});
