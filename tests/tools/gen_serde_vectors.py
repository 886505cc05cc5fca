"""Regenerate tests/unit/data/serde_json_vectors.json from the real serde_json.

Builds the Rust program in tests/tools/serde_vectors (serde_json with
``preserve_order``, offline against Debian's crate sources: ``apt-get install
librust-serde-json-dev librust-ryu-dev``), feeds it the cases below, and
writes each case with serde_json's rendering. Run from the repository root::

    .venv/bin/python tests/tools/gen_serde_vectors.py
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRATE = ROOT / "tests" / "tools" / "serde_vectors"
OUT = ROOT / "tests" / "unit" / "data" / "serde_json_vectors.json"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "/tmp/serde_vectors_target"))


def float_cases() -> list[float]:
    rng = random.Random(20240611)
    cases = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        0.2,
        0.3,
        1.5,
        2.5,
        100.0,
        123.456,
        1 / 3,
        2 / 3,
        0.00001,
        0.000012,
        0.0000123456789,
        0.0001,
        0.00012,
        0.001,
        1e-6,
        1.5e-7,
        9.99e-6,
        1e15,
        1e16,
        1e17,
        1.2345e20,
        123456789012345680.0,
        9007199254740992.0,
        9007199254740993.0,
        999999999999999.9,
        9999999999999998.0,
        1234567890123456.7,
        5e-324,
        -5e-324,
        2.2250738585072014e-308,
        2.225073858507201e-308,
        1.7976931348623157e308,
        -1.7976931348623157e308,
        4.9406564584124654e-324,
        0.1 + 0.2,
        1e21,
        1e22,
        1e23,
        1e-7,
        1e-100,
        1e100,
        1e300,
        1e-300,
        2.0**63,
        2.0**64,
        float("inf"),
        float("-inf"),
        float("nan"),
    ]
    for exponent in range(-325, 310):  # every power of ten, and neighbours
        value = float(f"1e{exponent}")
        cases += [value, -value, float(f"1.5e{exponent}"), float(f"9.87654321e{exponent}")]
    cases += [2.0**power for power in range(-1074, 1024, 7)]
    for _ in range(1500):  # random bit patterns: every exponent and digit count
        (value,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
        cases.append(value)
    for _ in range(500):  # short decimals around the layout boundaries
        digits = rng.randint(1, 10 ** rng.randint(1, 17))
        cases.append(float(f"{digits}e{rng.randint(-30, 25)}"))
    unique: dict[int, float] = {}
    for value in cases:
        unique.setdefault(struct.unpack("<Q", struct.pack("<d", value))[0], value)
    return list(unique.values())


def string_cases() -> list[str]:
    return [
        "",
        "plain",
        "".join(chr(code) for code in range(0x80)),  # every ASCII character
        *(chr(code) for code in range(0x20)),
        '"',
        "\\",
        "/",
        "\x7f",
        "\x80",
        "\xa0",
        "\xff",
        "\u0100",
        "\u2028",
        "\u2029",
        "\ufeff",
        "\ufffd",
        "\uffff",
        "\U00010000",
        "\U0001f600",
        "\U0010ffff",
        "caf\xe9 \u65e5\u672c\u8a9e \U0001f680 \u202e\u200b",
        'say "hi"\n\tand\\or \x00\x1f\x7f',
        "</script>",
    ]


def value_cases() -> list[str]:
    # JSON text; no floats that a float parser might round differently.
    return [
        "null",
        "true",
        "false",
        "0",
        "-1",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "[]",
        "{}",
        "[1,2]",
        '{"a":1}',
        "[[],{},[{}]]",
        '{"zeta":1,"alpha":{"z":null,"a":[true,false]},"mid":"x"}',
        '{"b":{"d":1,"c":2},"a":[{"y":1,"x":2}]}',
        '{"é":1,"e":2,"\\u0001":3,"":4}',
        "[0.5,1.5,-0.25,100.0,1e16,1e-6,0.00001]",
        '{"nested":[1,[2,[3,[4]]]],"s":"q\\"\\\\"}',
    ]


def metadata_cases() -> list[str]:
    return [
        '{"b":"x","a":2}',
        '{"model":"gpt-4o","input_tokens":12,"cost_usd":0.0125,"ok":true,"none":null}',
        '{"z":[1,"two"],"a":{"y":1,"x":2},"m":"line\\nbreak"}',
        '{"é":1,"e":2,"E":3,"_":4,"~":5,"日本":6,"😀":7,"10":8,"9":9}',
        '{"k":0.00001,"j":1e-6,"i":1e16,"h":-0.0}',
    ]


def _dump(data: Mapping[str, object]) -> str:
    """JSON, ASCII only, with one ``[input, expected]`` pair per line."""
    chunks = []
    for key, value in data.items():
        if isinstance(value, list):
            rows = ",\n".join(json.dumps(row) for row in value)
            chunks.append(f"{json.dumps(key)}: [\n{rows}\n]")
        else:
            chunks.append(f"{json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(chunks) + "\n}\n"


def main() -> int:
    env = {**os.environ, "CARGO_TARGET_DIR": str(TARGET)}
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=CRATE, env=env, check=True)
    floats = float_cases()
    strings = string_cases()
    values = value_cases()
    metadata = metadata_cases()
    lines = [f"f {struct.unpack('<Q', struct.pack('<d', value))[0]:016x}" for value in floats]
    lines += [f"s {text.encode().hex()}" for text in strings]
    lines += [f"j {text}" for text in values]
    lines += [f"m {text}" for text in metadata]
    run = subprocess.run(
        [str(TARGET / "release" / "serde_vectors")],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    # split("\n"), not splitlines(): that also splits at U+2028, U+0085, \x1c...
    outputs = [json.loads(line) for line in run.stdout.split("\n")[:-1]]
    assert len(outputs) == len(lines), (len(outputs), len(lines))
    outputs.reverse()
    data = {
        "source": "serde_json 1.0.87 (preserve_order) with ryu 1.0.2, Debian's crate "
        "sources; regenerate with tests/tools/gen_serde_vectors.py",
        "floats": [[value.hex(), outputs.pop()] for value in floats],
        "strings": [[text, outputs.pop()] for text in strings],
        "values": [[text, outputs.pop()] for text in values],
        "metadata": [[text, outputs.pop()] for text in metadata],
    }
    OUT.write_text(_dump(data))
    print(f"wrote {OUT.relative_to(ROOT)}: {len(lines)} vectors", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
