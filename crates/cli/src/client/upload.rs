//! The request body `{"key_id": "...", "payload": "<base64>"}`, produced from
//! the file while it is sent, so that neither the file nor its base64 is
//! held whole in memory.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// File bytes encoded at a time; a multiple of 3, so that the base64 of
/// consecutive chunks joins without padding in between.
const INPUT_CHUNK_LEN: usize = 48 << 10;

/// End of the body after the base64.
const BODY_TAIL: &[u8] = b"\"}";

/// Interval between redraws of the spinner while the server works.
const SPINNER_TICK: Duration = Duration::from_millis(120);

/// A JSON request body whose `payload` field is the base64 of a reader.
///
/// It reads the file inside `poll_frame`, which blocks the runtime thread
/// for the time of one local read. That is harmless here: the runtime
/// serves this one request and nothing else.
pub(crate) struct PayloadBody<R> {
    input: R,
    /// The JSON up to the opening quote of the base64, until it is sent.
    head: Option<Vec<u8>>,
    /// File bytes not read yet.
    remaining: u64,
    /// Body bytes not produced yet.
    unsent_len: u64,
    done: bool,
    progress: Option<ProgressBar>,
}

impl<R: Read> PayloadBody<R> {
    /// Prepares the body `{"<key_field>": key, "payload": base64 of the
    /// `input_len` bytes of input}`; `progress` counts the input bytes sent.
    pub(crate) fn new(
        key_field: &str,
        key: &str,
        input: R,
        input_len: u64,
        progress: Option<ProgressBar>,
    ) -> io::Result<Self> {
        let head = format!(
            "{{{}:{},\"payload\":\"",
            serde_json::to_string(key_field)?,
            serde_json::to_string(key)?
        );
        let body_len = input_len
            .div_ceil(3)
            .checked_mul(4)
            .and_then(|base64_len| base64_len.checked_add(head.len() as u64 + BODY_TAIL.len() as u64))
            .ok_or_else(|| io::Error::other("the file is too large to upload"))?;
        Ok(Self {
            input,
            head: Some(head.into_bytes()),
            remaining: input_len,
            unsent_len: body_len,
            done: false,
            progress,
        })
    }

    /// Returns the next piece of the body: the head, the base64 of each
    /// chunk of input, then the tail; `None` at the end.
    fn next_piece(&mut self) -> io::Result<Option<Vec<u8>>> {
        let piece = if let Some(head) = self.head.take() {
            head
        } else if self.remaining > 0 {
            self.encode_next_chunk()?
        } else if !self.done {
            self.check_input_ended()?;
            self.done = true;
            if let Some(progress) = &self.progress {
                show_waiting(progress);
            }
            BODY_TAIL.to_vec()
        } else {
            return Ok(None);
        };

        self.unsent_len = self.unsent_len.saturating_sub(piece.len() as u64);
        Ok(Some(piece))
    }

    fn encode_next_chunk(&mut self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.remaining).map_or(INPUT_CHUNK_LEN, |remaining| remaining.min(INPUT_CHUNK_LEN));
        let mut chunk = vec![0; len];
        self.input.read_exact(&mut chunk).map_err(|err| {
            if err.kind() == io::ErrorKind::UnexpectedEof {
                io::Error::new(err.kind(), "the file became shorter while it was uploaded")
            } else {
                err
            }
        })?;

        self.remaining -= len as u64;
        if let Some(progress) = &self.progress {
            progress.inc(len as u64);
        }
        Ok(STANDARD.encode(&chunk).into_bytes())
    }

    /// Fails when the input has more bytes than announced: the signature
    /// would otherwise cover only the start of a file still being written.
    fn check_input_ended(&mut self) -> io::Result<()> {
        let mut byte = [0];
        if self.input.read(&mut byte)? != 0 {
            return Err(io::Error::other(
                "the file grew while it was uploaded; sign it once it is complete",
            ));
        }
        Ok(())
    }
}

impl<R: Read + Unpin> http_body::Body for PayloadBody<R> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, _context: &mut Context<'_>) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let piece = self.get_mut().next_piece().transpose();
        Poll::Ready(piece.map(|piece| piece.map(|bytes| Frame::data(Bytes::from(bytes)))))
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.unsent_len)
    }
}

/// Returns a progress bar over `len` bytes on standard error.
pub(crate) fn progress_bar(len: u64, file_name: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .map(|style| style.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(format!("uploading {file_name}"));
    bar
}

/// Turns the bar into a spinner once the upload is complete.
fn show_waiting(progress: &ProgressBar) {
    let style =
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner());
    progress.set_style(style);
    progress.set_message("uploaded; waiting for the server");
    progress.enable_steady_tick(SPINNER_TICK);
}

#[cfg(test)]
mod tests {
    use http_body::Body;

    use super::*;

    fn collect(mut body: PayloadBody<&[u8]>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        while let Some(piece) = body.next_piece()? {
            out.extend_from_slice(&piece);
        }
        assert!(body.is_end_stream());
        Ok(out)
    }

    #[test]
    fn body_is_json_with_base64_payload() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 256) as u8).collect();
        for len in [0, 1, 2, 3, INPUT_CHUNK_LEN, INPUT_CHUNK_LEN + 1, data.len()] {
            let body = PayloadBody::new("key_id", "k\"1", &data[..len], len as u64, None).unwrap();
            let announced = body.size_hint().exact().unwrap();
            let bytes = collect(body).unwrap();
            assert_eq!(bytes.len() as u64, announced, "length {len}");

            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(json["key_id"], "k\"1");
            assert_eq!(json["payload"], STANDARD.encode(&data[..len]), "length {len}");
        }
    }

    #[test]
    fn size_hint_counts_down() {
        let data = vec![0u8; INPUT_CHUNK_LEN * 2];
        let mut body = PayloadBody::new("key_id", "k", &data[..], data.len() as u64, None).unwrap();
        let mut announced = body.size_hint().exact().unwrap();
        while let Some(piece) = body.next_piece().unwrap() {
            announced -= piece.len() as u64;
            assert_eq!(body.size_hint().exact(), Some(announced));
        }
        assert_eq!(announced, 0);
    }

    #[test]
    fn shorter_input_fails() {
        let data = [1u8; 10];
        let body = PayloadBody::new("key_id", "k", &data[..], 11, None).unwrap();
        let err = collect(body).unwrap_err();
        assert!(err.to_string().contains("became shorter"), "{err}");
    }

    #[test]
    fn longer_input_fails() {
        let data = [1u8; 10];
        let body = PayloadBody::new("key_id", "k", &data[..], 9, None).unwrap();
        let err = collect(body).unwrap_err();
        assert!(err.to_string().contains("grew"), "{err}");
    }

    #[test]
    fn progress_counts_input_bytes() {
        let data = vec![5u8; 100_000];
        let bar = ProgressBar::hidden();
        let body = PayloadBody::new("key_id", "k", &data[..], data.len() as u64, Some(bar.clone())).unwrap();
        collect(body).unwrap();
        assert_eq!(bar.position(), data.len() as u64);
    }
}
