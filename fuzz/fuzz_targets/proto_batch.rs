//! The collector's untrusted gRPC input: any bytes decode or fail cleanly, and
//! every flow record of a decoded batch maps to an ECS document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use sonde_common::ecs::{Observer, flow_document};
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
            if let Some(record::Kind::Flow(flow)) = r.kind {
                let doc = flow_document(&flow, &observer);
                let _ = serde_json::to_string(&doc);
            }
        }
    }
});
