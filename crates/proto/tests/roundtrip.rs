//! Property tests: every message survives encode → frame → decode unchanged, and no byte
//! sequence makes the decoders panic.

use bytes::BytesMut;
use proptest::prelude::*;
use proto::{
    ChatMessage, ClientMsg, Direction, ErrorCode, FileInfo, MAX_FRAME_BYTES, SenderStats,
    ServerMsg, decode_client, decode_frame, decode_server, encode_msg,
};

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including quotes, backslashes and control characters JSON must escape.
    ".{0,64}"
}

fn opt_u64() -> impl Strategy<Value = Option<u64>> {
    proptest::option::of(any::<u64>())
}

fn chat() -> impl Strategy<Value = ChatMessage> {
    (
        any::<u64>(),
        any::<u64>(),
        text(),
        proptest::option::of(text()),
        text(),
    )
        .prop_map(|(id, ts, from, to, text)| ChatMessage {
            id,
            ts,
            from,
            to,
            text,
        })
}

fn file() -> impl Strategy<Value = FileInfo> {
    (text(), any::<u64>(), text(), text(), any::<u64>()).prop_map(
        |(name, size, hash, uploader, ts)| FileInfo {
            name,
            size,
            hash,
            uploader,
            ts,
        },
    )
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    use ErrorCode::*;
    prop::sample::select(vec![
        UnsupportedVersion,
        HelloRequired,
        NotLoggedIn,
        ReadOnly,
        AlreadyLoggedIn,
        InvalidNick,
        NickTaken,
        UnknownRecipient,
        EmptyMessage,
        MessageTooLong,
        RateLimited,
        Malformed,
        FrameTooLarge,
        Undecodable,
        TooSlow,
        IdleTimeout,
        Shutdown,
        Quit,
        InvalidFileName,
        NoSuchFile,
        FileExists,
        FileTooLarge,
        StorageFull,
        TooManyTransfers,
        HashMismatch,
        TransferAborted,
        Internal,
    ])
}

fn sender_stats() -> impl Strategy<Value = SenderStats> {
    (
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
        ),
    )
        .prop_map(
            |(
                (cwnd, bytes_in_flight, packets_sent, packets_lost),
                (data_bytes_retransmitted, smoothed_rtt_us, min_rtt_us, pacing_rate, delivery_rate),
            )| SenderStats {
                cwnd,
                bytes_in_flight,
                packets_sent,
                packets_lost,
                data_bytes_retransmitted,
                smoothed_rtt_us,
                min_rtt_us,
                pacing_rate,
                delivery_rate,
            },
        )
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        (any::<u32>(), text()).prop_map(|(version, client)| ClientMsg::Hello { version, client }),
        (
            text(),
            opt_u64(),
            proptest::option::of(any::<u32>()),
            any::<bool>()
        )
            .prop_map(|(nick, since, history, quiet)| ClientMsg::Login {
                nick,
                since,
                history,
                quiet
            }),
        (opt_u64(), text()).prop_map(|(req, text)| ClientMsg::Say { req, text }),
        (opt_u64(), text(), text()).prop_map(|(req, to, text)| ClientMsg::Private {
            req,
            to,
            text
        }),
        opt_u64().prop_map(|req| ClientMsg::Who { req }),
        (opt_u64(), proptest::option::of(any::<u32>()), opt_u64())
            .prop_map(|(req, limit, since)| ClientMsg::History { req, limit, since }),
        opt_u64().prop_map(|req| ClientMsg::Ping { req }),
        Just(ClientMsg::Pong {}),
        Just(ClientMsg::Quit {}),
        opt_u64().prop_map(|req| ClientMsg::Files { req }),
        (opt_u64(), text()).prop_map(|(req, name)| ClientMsg::Download { req, name }),
        (opt_u64(), text(), any::<u64>(), text(), any::<bool>()).prop_map(
            |(req, name, size, hash, replace)| ClientMsg::Upload {
                req,
                name,
                size,
                hash,
                replace
            }
        ),
        any::<u64>().prop_map(|transfer| ClientMsg::Cancel { transfer }),
    ]
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    prop_oneof![
        (any::<u32>(), text(), any::<u32>(), any::<u32>()).prop_map(
            |(version, server, max_frame, max_text)| ServerMsg::Welcome {
                version,
                server,
                max_frame,
                max_text
            }
        ),
        (text(), prop::collection::vec(text(), 0..5), any::<u64>()).prop_map(
            |(nick, members, last_id)| ServerMsg::LoggedIn {
                nick,
                members,
                last_id
            }
        ),
        chat().prop_map(ServerMsg::Message),
        text().prop_map(|nick| ServerMsg::Joined { nick }),
        (text(), text()).prop_map(|(nick, reason)| ServerMsg::Left { nick, reason }),
        (opt_u64(), any::<u64>(), any::<u64>()).prop_map(|(req, id, ts)| ServerMsg::Ack {
            req,
            id,
            ts
        }),
        (opt_u64(), prop::collection::vec(text(), 0..5))
            .prop_map(|(req, nicks)| ServerMsg::Members { req, nicks }),
        (
            opt_u64(),
            prop::collection::vec(chat(), 0..4),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(|(req, messages, done, more)| ServerMsg::History {
                req,
                messages,
                done,
                more
            }),
        opt_u64().prop_map(|req| ServerMsg::Pong { req }),
        Just(ServerMsg::Ping {}),
        (opt_u64(), error_code(), text()).prop_map(|(req, code, message)| ServerMsg::Error {
            req,
            code,
            message
        }),
        (error_code(), text()).prop_map(|(code, message)| ServerMsg::Bye { code, message }),
        (
            opt_u64(),
            prop::collection::vec(file(), 0..4),
            any::<bool>()
        )
            .prop_map(|(req, files, done)| ServerMsg::FileList { req, files, done }),
        file().prop_map(|file| ServerMsg::FileAdded { file }),
        (
            opt_u64(),
            any::<u64>(),
            any::<bool>(),
            text(),
            proptest::option::of(any::<u16>()),
            file()
        )
            .prop_map(
                |(req, transfer, up, key, udp_port, file)| ServerMsg::Transfer {
                    req,
                    transfer,
                    direction: if up {
                        Direction::Upload
                    } else {
                        Direction::Download
                    },
                    key,
                    udp_port,
                    file
                }
            ),
        (opt_u64(), opt_u64(), file()).prop_map(|(req, transfer, file)| ServerMsg::UploadDone {
            req,
            transfer,
            file
        }),
        (any::<u64>(), error_code(), text()).prop_map(|(transfer, code, message)| {
            ServerMsg::TransferFailed {
                transfer,
                code,
                message,
            }
        }),
        (any::<u64>(), sender_stats())
            .prop_map(|(transfer, sender)| ServerMsg::TransferStats { transfer, sender }),
    ]
}

proptest! {
    #[test]
    fn client_messages_round_trip(msg in client_msg()) {
        let frame = encode_msg(&msg, MAX_FRAME_BYTES).unwrap();
        let mut buf = BytesMut::from(&frame[..]);
        let payload = decode_frame(&mut buf, MAX_FRAME_BYTES).unwrap().unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decode_client(&payload).unwrap(), msg);
    }

    #[test]
    fn server_messages_round_trip(msg in server_msg()) {
        let frame = encode_msg(&msg, MAX_FRAME_BYTES).unwrap();
        let mut buf = BytesMut::from(&frame[..]);
        let payload = decode_frame(&mut buf, MAX_FRAME_BYTES).unwrap().unwrap();
        prop_assert_eq!(decode_server(&payload).unwrap(), msg);
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_client(&bytes);
        let _ = decode_server(&bytes);
        let mut buf = BytesMut::from(&bytes[..]);
        // Drain every frame the bytes happen to contain; the loop ends because each frame
        // consumes at least its 4-byte header.
        while let Ok(Some(payload)) = decode_frame(&mut buf, 256) {
            let _ = decode_client(&payload);
        }
    }

    #[test]
    fn json_shaped_input_never_panics(
        ty in prop::sample::select(vec!["hello", "login", "say", "private", "who", "history", "ping", "pong", "quit", "nope"]),
        field in "[a-z]{1,8}",
        value in prop_oneof![Just("1".to_string()), Just("\"x\"".to_string()), Just("null".to_string()), Just("-1".to_string()), Just("[]".to_string()), Just("18446744073709551616".to_string())],
    ) {
        let json = format!(r#"{{"type":"{ty}","{field}":{value}}}"#);
        let _ = decode_client(json.as_bytes());
    }

    #[test]
    fn server_json_shaped_input_never_panics(
        ty in prop::sample::select(vec!["transfer_stats", "transfer", "transfer_failed", "upload_done", "message", "nope"]),
        field in prop::sample::select(vec!["transfer", "cwnd", "smoothed_rtt_us", "sender", "x"]),
        value in prop_oneof![Just("1".to_string()), Just("\"x\"".to_string()), Just("null".to_string()), Just("-1".to_string()), Just("{}".to_string()), Just("18446744073709551616".to_string())],
    ) {
        let json = format!(r#"{{"type":"{ty}","{field}":{value}}}"#);
        let _ = decode_server(json.as_bytes());
    }
}
