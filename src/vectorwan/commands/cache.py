"""`vectorwan cache CONFIG`: encode latents and text embeddings once (resumable)."""

from __future__ import annotations

from vectorwan.commands._config_args import add_config_arguments, load


def add_arguments(p) -> None:
    add_config_arguments(p)


def run(args) -> int:
    from vectorwan.cache import build_cache

    s = build_cache(load(args))
    for problem in s["problems"]:  # what the dataset report names (skipped rows, empty captions)
        print(f"dataset: {problem}")
    print(f"cache {s['cache_dir']}: {s['items']} items ({s['item_hits']} already cached, {s['encoded_items']} encoded), "
          f"{s['texts']} captions ({s['text_hits']} already cached, {s['encoded_texts']} encoded)"
          + (f", layer maps made for {s['layer_maps']} items" if s["layer_maps"] else ""))
    return 0
