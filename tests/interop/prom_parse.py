"""Parses a Prometheus text exposition with the reference client's parser and prints its samples.

Usage: python3 prom_parse.py FILE  ->  JSON: {"families": {name: type}, "samples": [[name, labels, value], ...]}
A document the parser rejects makes it exit non-zero with the parser's message.
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as handle:
        text = handle.read()
    families = {}
    samples = []
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples.append([sample.name, sample.labels, sample.value])
    json.dump({"families": families, "samples": samples}, sys.stdout)


if __name__ == "__main__":
    main()
