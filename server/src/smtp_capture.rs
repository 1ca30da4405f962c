//! A small SMTP server that accepts every message and keeps it: the local
//! capture server the tests send real email to, and the development mailbox
//! (`steward mailbox`). It speaks just enough SMTP for lettre and common clients.

use std::{path::PathBuf, sync::Arc, time::Duration};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::{Mutex, Notify},
};

#[derive(Debug, Clone)]
pub struct CapturedMail {
    pub from: String,
    pub to: Vec<String>,
    /// The raw message as sent (headers and body).
    pub data: String,
}

impl CapturedMail {
    /// The message with quoted-printable soft line breaks and `=3D` undone,
    /// which is enough to find links in it.
    pub fn decoded(&self) -> String {
        self.data.replace("=\r\n", "").replace("=3D", "=")
    }

    pub fn subject(&self) -> Option<String> {
        self.header("Subject")
    }

    /// A header's value (the first line of it), by name, any case.
    pub fn header(&self, name: &str) -> Option<String> {
        self.data.lines().take_while(|l| !l.is_empty()).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The first link in the message that starts with `prefix`.
    pub fn link_starting_with(&self, prefix: &str) -> Option<String> {
        let text = self.decoded();
        let start = text.find(prefix)?;
        let rest = &text[start..];
        let end = rest.find(|c: char| c.is_whitespace() || c == '"' || c == '<').unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }
}

#[derive(Clone, Default)]
pub struct Mailbox {
    messages: Arc<Mutex<Vec<CapturedMail>>>,
    arrived: Arc<Notify>,
}

impl Mailbox {
    pub async fn messages(&self) -> Vec<CapturedMail> {
        self.messages.lock().await.clone()
    }

    /// The last message to `recipient` so far.
    pub async fn latest_to(&self, recipient: &str) -> Option<CapturedMail> {
        self.messages.lock().await.iter().rev().find(|m| m.to.iter().any(|t| t == recipient)).cloned()
    }

    /// Waits until a message to `recipient` arrives, or the timeout passes.
    pub async fn wait_for(&self, recipient: &str, timeout: Duration) -> Option<CapturedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            if let Some(m) = self.messages.lock().await.iter().find(|m| m.to.iter().any(|t| t == recipient)) {
                return Some(m.clone());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }
}

/// Starts the capture server; returns its port and the mailbox it fills.
/// Messages are also written to `save_to` as `.eml` files when given.
pub async fn start(addr: &str, save_to: Option<PathBuf>) -> std::io::Result<(u16, Mailbox)> {
    start_with_delay(addr, save_to, Duration::ZERO).await
}

/// Like `start`, but answers each message only after `delay`, the way a slow
/// mail server does; tests use it to catch a delivery in flight.
pub async fn start_with_delay(
    addr: &str,
    save_to: Option<PathBuf>,
    delay: Duration,
) -> std::io::Result<(u16, Mailbox)> {
    let listener = TcpListener::bind(addr).await?;
    let port = listener.local_addr()?.port();
    let mailbox = Mailbox::default();
    let mb = mailbox.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let mb = mb.clone();
            let save_to = save_to.clone();
            tokio::spawn(async move {
                if let Err(e) = session(socket, mb, save_to, delay).await {
                    tracing::debug!(error = %e, "smtp capture session ended with an error");
                }
            });
        }
    });
    Ok((port, mailbox))
}

async fn session(
    socket: tokio::net::TcpStream,
    mailbox: Mailbox,
    save_to: Option<PathBuf>,
    delay: Duration,
) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 steward-capture ESMTP ready\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_string();
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-steward-capture\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if upper.starts_with("HELO") {
            b"250 steward-capture\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = address(&command[10..]);
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            to.push(address(&command[8..]));
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line).await? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                // Undo dot-stuffing.
                data.push_str(line.strip_prefix('.').filter(|_| line.starts_with("..")).unwrap_or(&line));
            }
            let mail = CapturedMail { from: std::mem::take(&mut from), to: std::mem::take(&mut to), data };
            if let Some(dir) = &save_to {
                let _ = tokio::fs::create_dir_all(dir).await;
                // Time first so a listing sorts by arrival; the random part keeps two mails in one millisecond apart.
                let name = format!(
                    "{}-{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f"),
                    &uuid::Uuid::new_v4().simple().to_string()[..8],
                    mail.to.join("_")
                );
                let _ = tokio::fs::write(dir.join(name), &mail.data).await;
            }
            tracing::info!(to = ?mail.to, subject = ?mail.subject(), "captured an email");
            mailbox.messages.lock().await.push(mail);
            mailbox.arrived.notify_waiters();
            tokio::time::sleep(delay).await;
            b"250 OK: queued\r\n"
        } else if upper == "RSET" {
            from.clear();
            to.clear();
            b"250 OK\r\n"
        } else if upper == "NOOP" {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

fn address(arg: &str) -> String {
    let arg = arg.trim();
    let inner = arg.split_once('<').and_then(|(_, rest)| rest.split_once('>')).map(|(a, _)| a).unwrap_or(arg);
    inner.trim().to_lowercase()
}
