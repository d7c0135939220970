//! Raw AEAD seal throughput on 1400-byte payloads, the choice behind `ring` AES-256-GCM:
//! `cargo run --release -p rudp --example aead_speed`.
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use std::time::Instant;

fn bench<A: AeadInPlace<NonceSize = chacha20poly1305::consts::U12>>(name: &str, a: &A) {
    let mut buf = vec![7u8; 1400];
    let n = 200_000u64;
    let t = Instant::now();
    for i in 0..n {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&i.to_be_bytes());
        let tag = a
            .encrypt_in_place_detached(
                chacha20poly1305::aead::generic_array::GenericArray::from_slice(&nonce),
                b"header",
                &mut buf,
            )
            .unwrap();
        std::hint::black_box(&tag);
    }
    let s = t.elapsed().as_secs_f64();
    println!("{name}: seal {:.0} MB/s", n as f64 * 1400.0 / s / 1e6);
}

fn main() {
    bench(
        "chacha20poly1305",
        &ChaCha20Poly1305::new(&[1u8; 32].into()),
    );
    ring_bench();
}

#[allow(dead_code)]
fn ring_bench() {
    use ring::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
    for (name, alg) in [
        ("ring chacha20poly1305", &CHACHA20_POLY1305),
        ("ring aes-256-gcm", &AES_256_GCM),
    ] {
        let key = LessSafeKey::new(UnboundKey::new(alg, &[1u8; 32]).unwrap());
        let mut buf = vec![7u8; 1400];
        let n = 400_000u64;
        let t = Instant::now();
        for i in 0..n {
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&i.to_be_bytes());
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(b"header"),
                    &mut buf,
                )
                .unwrap();
            std::hint::black_box(&tag);
        }
        let s = t.elapsed().as_secs_f64();
        println!("{name}: seal {:.0} MB/s", n as f64 * 1400.0 / s / 1e6);
    }
}
