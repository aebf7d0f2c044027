//! A stand-in for an OpenAI-compatible transcription API on 127.0.0.1
//! (`POST /v1/audio/transcriptions`, multipart `file` and `model`, answers
//! `{"text": …}`), as a local Whisper server or OpenAI's would. The
//! "audio" the tests send is `OggS` and the words to hear; audio starting
//! with `OggS FAIL` gets a 500 in OpenAI's error shape.

use crate::llm_stub::{read_request, respond_json};
use serde_json::json;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// What one request carried.
#[derive(Debug, Clone)]
pub struct Heard {
    /// Its `authorization` header.
    pub authorization: Option<String>,
    /// Its `model` field.
    pub model: String,
    /// The audio file's name.
    pub filename: String,
    /// The audio's size.
    pub bytes: usize,
}

/// The stub, serving until the test ends.
#[derive(Debug)]
pub struct TranscriptionStub {
    /// `http://127.0.0.1:PORT/v1`, the API's base URL.
    pub url: String,
    heard: Arc<Mutex<Vec<Heard>>>,
}

impl TranscriptionStub {
    /// Start it.
    pub fn start() -> TranscriptionStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let heard = Arc::new(Mutex::new(Vec::new()));
        let kept = heard.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let Ok(Some(request)) = read_request(&stream) else { continue };
                let kind = request.header("content-type").unwrap_or_default().to_owned();
                let parts = crate::multipart::parse(&kind, &request.body).unwrap_or_default();
                let field = |name: &str| parts.iter().find(|p| p.name == name);
                let (Some(file), true) = (field("file"), request.target == "/v1/audio/transcriptions") else {
                    let _ = respond_json(
                        &mut stream,
                        400,
                        &json!({ "error": { "message": "no file", "type": "invalid_request_error" } }),
                    );
                    continue;
                };
                kept.lock().unwrap().push(Heard {
                    authorization: request.header("authorization").map(str::to_owned),
                    model: field("model").map(|m| String::from_utf8_lossy(&m.bytes).into_owned()).unwrap_or_default(),
                    filename: file.filename.clone(),
                    bytes: file.bytes.len(),
                });
                let words =
                    String::from_utf8_lossy(file.bytes.strip_prefix(b"OggS").unwrap_or(&file.bytes)).trim().to_owned();
                let _ = if words.starts_with("FAIL") {
                    respond_json(
                        &mut stream,
                        500,
                        &json!({ "error": { "message": "the model is overloaded", "type": "server_error" } }),
                    )
                } else {
                    respond_json(&mut stream, 200, &json!({ "text": words }))
                };
            }
        });
        TranscriptionStub { url, heard }
    }

    /// The requests so far.
    pub fn heard(&self) -> Vec<Heard> {
        self.heard.lock().unwrap().clone()
    }
}
