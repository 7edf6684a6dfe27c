//! The per-packet cost of forwarding, next to the cost of the cipher alone: decrypt an SRTP
//! packet once, rewrite its header for a subscriber, encrypt it once per subscriber. Run with
//! `cargo bench -p vardrum-sfu --bench forwarding`; numbers go to docs/benchmarks.md.
//!
//! This is the floor of the forwarding path (crypto plus header work). The SFU's real path adds
//! the WebRTC core around it (interceptors for NACK, reports and TWCC, per-sender lookups); the
//! load tester measures that whole cost as server CPU per forwarded stream.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rtc::rtp::header::Header;
use rtc::rtp::packet::Packet;
use rtc::shared::marshal::{Marshal, MarshalSize, Unmarshal};
use rtc::srtp::context::Context;
use rtc::srtp::protection_profile::ProtectionProfile;

const PAYLOAD: usize = 1100;
/// Browsers and the `rtc` core negotiate AEAD_AES_128_GCM when both offer it (the profile seen in
/// the server's profile); AES128_CM_HMAC_SHA1_80 is the one every implementation has.
const PROFILES: [(&str, ProtectionProfile); 2] = [
    ("aes128gcm", ProtectionProfile::AeadAes128Gcm),
    ("aes128cm_sha1_80", ProtectionProfile::Aes128CmHmacSha1_80),
];

fn context(profile: ProtectionProfile, seed: u8) -> Context {
    let provider = rtc::crypto::default_provider().expect("crypto provider");
    let key = vec![seed; profile.key_len()];
    let salt = vec![seed.wrapping_add(1); profile.salt_len()];
    Context::new(&key, &salt, profile, None, None, provider.crypto()).expect("srtp context")
}

fn rtp(seq: u16) -> Bytes {
    let packet = Packet {
        header: Header {
            version: 2,
            payload_type: 96,
            sequence_number: seq,
            timestamp: u32::from(seq) * 3000,
            ssrc: 0x1234_5678,
            marker: seq.is_multiple_of(4),
            ..Default::default()
        },
        payload: Bytes::from(vec![0xab; PAYLOAD]),
    };
    packet.marshal().expect("marshal").freeze()
}

/// Encrypted packets as a publisher sends them, so decryption sees a real stream.
fn encrypted_stream(profile: ProtectionProfile, n: u16) -> Vec<Bytes> {
    let mut ctx = context(profile, 1);
    (0..n)
        .map(|seq| ctx.encrypt_rtp(&rtp(seq)).expect("encrypt").freeze())
        .collect()
}

fn cipher(c: &mut Criterion) {
    let mut group = c.benchmark_group("cipher");
    group.throughput(Throughput::Elements(1));
    for (name, profile) in PROFILES {
        group.bench_function(BenchmarkId::new("encrypt", name), |b| {
            let mut ctx = context(profile, 2);
            let mut seq = 0u16;
            b.iter(|| {
                seq = seq.wrapping_add(1);
                black_box(ctx.encrypt_rtp(&rtp(seq)).expect("encrypt"))
            });
        });
        group.bench_function(BenchmarkId::new("decrypt", name), |b| {
            let stream = encrypted_stream(profile, 4096);
            let mut ctx = context(profile, 1);
            let mut i = 0usize;
            b.iter(|| {
                i = (i + 1) % stream.len();
                black_box(ctx.decrypt_rtp(&stream[i]).expect("decrypt"))
            });
        });
    }
    group.finish();
}

/// Decrypt once, then per subscriber: rewrite SSRC and payload type, drop header extensions,
/// marshal and encrypt with that subscriber's keys.
fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward");
    for (name, profile) in PROFILES {
        let stream = encrypted_stream(profile, 4096);
        for subscribers in [1usize, 5, 10, 30] {
            group.throughput(Throughput::Elements(subscribers as u64));
            group.bench_with_input(
                BenchmarkId::new(name, subscribers),
                &subscribers,
                |b, &n| forward_to(b, profile, &stream, n),
            );
        }
    }
    group.finish();
}

fn forward_to(
    b: &mut criterion::Bencher<'_>,
    profile: ProtectionProfile,
    stream: &[Bytes],
    n: usize,
) {
    let mut inbound = context(profile, 1);
    let mut outbound: Vec<(Context, u32)> = (0..n)
        .map(|i| (context(profile, 10 + i as u8), 0x1000 + i as u32))
        .collect();
    let mut i = 0usize;
    let mut buf = BytesMut::with_capacity(1500);
    b.iter(|| {
        i = (i + 1) % stream.len();
        let plain = inbound.decrypt_rtp(&stream[i]).expect("decrypt");
        let mut raw = plain.freeze();
        let packet = Packet::unmarshal(&mut raw).expect("parse");
        for (ctx, ssrc) in outbound.iter_mut() {
            let mut out = packet.clone();
            out.header.ssrc = *ssrc;
            out.header.payload_type = 96;
            out.header.extension = false;
            out.header.extensions.clear();
            buf.clear();
            buf.resize(out.marshal_size(), 0);
            out.marshal_to(&mut buf).expect("marshal");
            black_box(ctx.encrypt_rtp(&buf).expect("encrypt"));
        }
    });
}

criterion_group!(benches, cipher, forward);
criterion_main!(benches);
