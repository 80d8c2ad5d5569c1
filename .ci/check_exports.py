#!/usr/bin/python3
"""Validate the production example's exports with real parsers.

usage: check_exports.py PROMETHEUS_FILE JSON_LINES_FILE SUMMARY_FILE
The Prometheus text goes through prometheus_client's parser (Debian's python3-prometheus-client);
every JSON line through the standard json module (the same parser as `python3 -m json.tool`).
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def check_prometheus(path):
    with open(path, encoding="ascii") as f:
        families = list(text_string_to_metric_families(f.read()))
    names = {family.name for family in families}
    expected = {
        "request_shadow_calls", "request_shadow_skipped", "request_shadow_shadow_results",
        "request_shadow_comparisons", "request_shadow_divergences",
        "request_shadow_primary_failures",
        "request_shadow_cancelled", "request_shadow_shadows_in_flight",
        "request_shadow_sampled_in_progress",
        "request_shadow_auto_stops", "request_shadow_auto_stopped",
        "request_shadow_leg_duration_seconds",
        "request_shadow_sample_rate_ratio",
        "request_shadow_noise_probes", "request_shadow_noise_cancelled",
        "request_shadow_divergence_kinds", "request_shadow_signature_divergences",
        "request_shadow_filtered", "request_shadow_rule_errors",
        "request_shadow_noise_place_window_requests", "request_shadow_noise_place_shadow_rate",
        "request_shadow_noise_place_secondary_rate", "request_shadow_noise_place_judged_noise",
    }
    missing = expected - names
    if missing:
        sys.exit(f"prometheus: missing families {sorted(missing)} (have {sorted(names)})")
    samples = [s for family in families for s in family.samples]
    for sample in samples:
        if sample.labels.get("experiment") != "pricing-v2":
            sys.exit(f"prometheus: sample without the experiment label: {sample}")
    calls = next(s.value for s in samples if s.name == "request_shadow_calls_total")
    shadow_count = next(s.value for s in samples
                        if s.name == "request_shadow_leg_duration_seconds_count"
                        and s.labels.get("leg") == "shadow")
    if shadow_count <= 0:
        sys.exit("prometheus: no shadow latency recorded")
    if calls <= 0:
        sys.exit("prometheus: no calls counted")
    filtered = next(s.value for s in samples if s.name == "request_shadow_filtered_total")
    if filtered <= 0:
        sys.exit("prometheus: no call filtered by shadow_if")
    if not any(s.name == "request_shadow_shadow_results_total"
               and s.labels.get("result") == "rate_limited" for s in samples):
        sys.exit("prometheus: no rate_limited shadow result")
    places = {}
    for sample in samples:
        if not sample.name.startswith("request_shadow_noise_place_"):
            continue
        if sample.labels.get("kind") not in ("header", "pointer", "body") or \
                "place" not in sample.labels:
            sys.exit(f"prometheus: a noisy place without its kind or place label: {sample}")
        key = (sample.labels["kind"], sample.labels["place"])
        places.setdefault(key, {})[sample.name] = sample.value
        if sample.name.endswith("_rate") and not 0 <= sample.value <= 1:
            sys.exit(f"prometheus: a rate outside 0..1: {sample}")
        if sample.name.endswith("_judged_noise") and sample.value not in (0, 1):
            sys.exit(f"prometheus: judged_noise is neither 0 nor 1: {sample}")
    if not places:
        sys.exit("prometheus: no noisy place")
    for key, series in places.items():
        if len(series) != 4:
            sys.exit(f"prometheus: noisy place {key} has {sorted(series)}, not the 4 gauges")
    print(f"prometheus: {len(families)} families, {len(samples)} samples, {calls:.0f} calls, "
          f"{len(places)} noisy places: ok")


def check_json_lines(path):
    count = 0
    with open(path, encoding="ascii") as f:
        for number, line in enumerate(f, 1):
            entry = json.loads(line)
            for field in ("ts", "key", "key_size", "key_truncated", "divergence"):
                if field not in entry:
                    sys.exit(f"json lines: line {number} has no {field!r}: {line}")
            if not any(entry["divergence"][aspect] for aspect in ("status", "headers", "body")):
                sys.exit(f"json lines: line {number} has an empty divergence: {line}")
            count += 1
    if count == 0:
        sys.exit("json lines: no divergence was logged")
    print(f"json lines: {count} entries: ok")


def check_summary(path):
    kinds = 0
    noisy = 0
    results = 0
    total = 0.0
    with open(path, encoding="ascii") as f:
        for number, line in enumerate(f, 1):
            entry = json.loads(line)
            if "results" in entry:
                r = entry["results"]
                fates = ("ok", "timed_out", "expired_in_queue", "failed", "abandoned", "shed",
                         "stopped", "rate_limited", "in_progress")
                if sum(r[f] for f in fates) != r["sampled"] or r["ok"] != r["matched"] + r["diverged"]:
                    sys.exit(f"summary: line {number}: the fates do not add up: {line}")
                if r["sampled"] + r["skipped"] + r["filtered"] != r["calls"]:
                    sys.exit(f"summary: line {number}: the calls do not add up: {line}")
                if r["filtered"] <= 0 or "rule_errors" not in r:
                    sys.exit(f"summary: line {number}: no call filtered by shadow_if: {line}")
                results += 1
            elif "signature" in entry:
                for field in ("text", "count", "share", "last_seen", "exemplar_keys"):
                    if field not in entry:
                        sys.exit(f"summary: line {number} has no {field!r}: {line}")
                if len(entry["signature"]) != 16 or entry["count"] <= 0:
                    sys.exit(f"summary: line {number} is not a counted kind: {line}")
                kinds += 1
                total += entry["share"]
            elif "noise" in entry:
                for field in ("name", "count", "auto_ignored", "window_requests",
                              "shadow_differed", "secondary_differed", "shadow_rate",
                              "secondary_rate", "judged_noise"):
                    if field not in entry:
                        sys.exit(f"summary: line {number} has no {field!r}: {line}")
                calls = entry["window_requests"]
                for side in ("shadow", "secondary"):
                    differed = entry[side + "_differed"]
                    rate = differed / calls if calls else 0
                    if not 0 <= differed <= calls or abs(entry[side + "_rate"] - rate) > 1e-6:
                        sys.exit(f"summary: line {number}: the {side}'s rate is not its count "
                                 f"over the window: {line}")
                if not isinstance(entry["judged_noise"], bool):
                    sys.exit(f"summary: line {number}: judged_noise is not a boolean: {line}")
                noisy += 1
            else:
                sys.exit(f"summary: line {number} is neither a kind nor a noisy place: {line}")
    if results != 1:
        sys.exit(f"summary: {results} results lines, not 1")
    if kinds == 0:
        sys.exit("summary: no kind of divergence")
    if abs(total - 1.0) > 0.01:
        sys.exit(f"summary: the shares add up to {total}, not 1")
    if noisy == 0:
        sys.exit("summary: no noisy place")
    print(f"summary: {kinds} kinds of divergence, {noisy} noisy places: ok")


if __name__ == "__main__":
    check_prometheus(sys.argv[1])
    check_json_lines(sys.argv[2])
    check_summary(sys.argv[3])
