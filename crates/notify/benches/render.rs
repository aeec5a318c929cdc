//! Rendering throughput of the default templates: every channel's message for an event.
//!
//! `cargo bench -p procurize-notify --bench render`

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use procurize_notify::event::sample;
use procurize_notify::{EventKind, Templates};

fn bench(c: &mut Criterion) {
    let templates = Templates::load(None).expect("defaults");
    let events: Vec<_> = EventKind::ALL.into_iter().map(sample).collect();
    let parts = [
        ("email", "subject"),
        ("email", "text"),
        ("email", "html"),
        ("slack", "text"),
        ("jira", "summary"),
        ("jira", "description"),
    ];
    let mut group = c.benchmark_group("templates");
    group.throughput(Throughput::Elements((events.len() * parts.len()) as u64));
    group.bench_function("every default template, every event", |b| {
        b.iter(|| {
            for event in &events {
                for (channel, part) in parts {
                    black_box(
                        templates
                            .render(channel, part, black_box(event))
                            .expect("render"),
                    );
                }
            }
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
