"""The session's secret scan (#12) finds what it must, and says where without saying what.

The files these tests plant hold a secret on purpose, so each test removes its
files before it ends: the scan of the whole session must not find them.
"""

from __future__ import annotations

import gzip
import random
import string
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from taskade_frames import TaskadeClient
from taskade_frames.emulator import DEFAULT_TOKEN
from taskade_frames.errors import ConfigurationError, register_secret

from .conftest import FAKE_TOKEN, session_scanner
from .secret_scan import FRAGMENT, Scanner, Secret, scan_tree, secrets_in_sources

TESTS = Path(__file__).parent
SCANNER = Scanner([Secret(FAKE_TOKEN.encode(), "FAKE_TOKEN")])


@pytest.fixture
def planted(tmp_path):
    """A folder for files that hold a secret on purpose, emptied when the test ends."""
    folder = tmp_path / "planted"
    folder.mkdir()
    yield folder
    for path in sorted(folder.rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()


def test_a_planted_fragment_is_found_and_named_without_the_secret(planted):
    piece = FAKE_TOKEN[5 : 5 + FRAGMENT]
    (planted / "deep" / "er").mkdir(parents=True)
    (planted / "deep" / "er" / "run.log").write_text(f"GET /spaces failed: Bearer {piece}\n")
    (planted / "clean.log").write_text(
        f"a shorter piece is no leak: {FAKE_TOKEN[: FRAGMENT - 1]}\n"
    )

    found = scan_tree([planted], SCANNER)

    assert [(p.name, label) for p, label in found] == [("run.log", "FAKE_TOKEN")]
    assert piece not in str(found)


def test_a_token_in_a_zstd_parquet_column_is_found_through_the_decoded_values(planted):
    path = planted / "errors.parquet"
    # many messages from a small alphabet: zstd Huffman-codes their bytes, the token's too
    noise = random.Random(1)
    rows = ["".join(noise.choice("ab ") for _ in range(60)) for _ in range(100)]
    rows[50] = f"ab server said: Bearer {FAKE_TOKEN}"  # neither the min nor the max
    pq.write_table(pa.table({"message": rows}), path, compression="zstd")

    assert SCANNER.find(path.read_bytes()) is None  # no piece of it is in the bytes
    assert scan_tree([planted], SCANNER) == [(path, "FAKE_TOKEN")]


def test_a_token_in_parquet_metadata_or_a_gzip_file_is_found(planted):
    table = pa.table({"n": [1]}).replace_schema_metadata({"api_host": f"x{FAKE_TOKEN[3:15]}"})
    pq.write_table(table, planted / "meta.parquet", compression="zstd")
    (planted / "log.gz").write_bytes(gzip.compress(FAKE_TOKEN.encode() * 50))

    assert sorted(p.name for p, _ in scan_tree([planted], SCANNER)) == ["log.gz", "meta.parquet"]


def test_a_damaged_parquet_file_is_still_searched_as_bytes(planted):
    (planted / "torn.parquet").write_bytes(b"PAR1" + FAKE_TOKEN.encode() + b"garbage")

    assert scan_tree([planted], SCANNER) == [(planted / "torn.parquet", "FAKE_TOKEN")]


def test_the_sources_name_every_secret_the_tests_use():
    labels = {s.value.decode(): s.label for s in secrets_in_sources(TESTS)}

    assert labels[FAKE_TOKEN] == "conftest.py:FAKE_TOKEN"
    assert "s3cr3t-pass-word" in labels  # a URL credential in test_wire_config
    assert "hunter2pass" in labels  # one in test_snapshots
    assert "127.0.0.1" not in labels and "user" not in labels  # a host or a user name is not


def test_the_session_scan_looks_for_the_token_of_every_client_a_test_built():
    token = "audit-scan-" + "Kp4Wq8Zr2Xm6"  # shares no piece with FAKE_TOKEN
    refused = "audit-scan-\u200b" + "Vb7Nc5Lt9Qh3"
    TaskadeClient(token, base_url="http://127.0.0.1:1/api/v2").close()
    with pytest.raises(ConfigurationError):
        TaskadeClient(refused, base_url="http://127.0.0.1:1/api/v2")
    register_secret("audit-direct-" + "Zq8Wk3Xm5Pr1")  # as redaction tests do, no client
    TaskadeClient(DEFAULT_TOKEN, base_url="http://127.0.0.1:1/api/v2").close()

    scanner = session_scanner()

    assert scanner.find(f"...{token[4 : 4 + FRAGMENT]}...".encode())
    assert scanner.find(f"...{refused[-FRAGMENT:]}...".encode())
    # hypothesis registers hundreds of random strings; they are not tokens of a client
    assert scanner.find(b"...Zq8Wk3Xm5Pr1...") is None
    # the emulator's well-known token is no secret: its files say "emulator-workspace"
    assert scanner.find(b'"format": "taskade-frames-emulator-workspace"') is None


# Tokens of distinct letters, the text around them without letters: only a piece
# that really comes from the token can match.
TOKEN = st.lists(
    st.sampled_from(string.ascii_letters), unique=True, min_size=FRAGMENT + 3, max_size=52
).map("".join)
NOISE = st.binary(max_size=5000).map(
    lambda b: bytes(c for c in b if chr(c) not in string.ascii_letters)
)


@given(TOKEN, NOISE, NOISE, st.data())
def test_every_piece_longer_than_8_is_found_anywhere_and_shorter_ones_are_not(
    token, before, after, data
):
    scanner = Scanner([Secret(token.encode(), "t"), Secret(b"0123456789-other", "o")])
    start = data.draw(st.integers(0, len(token) - FRAGMENT))
    end = data.draw(st.integers(start + FRAGMENT, len(token)))
    short = data.draw(st.integers(0, len(token) - FRAGMENT + 1))

    assert scanner.find(before + token[start:end].encode() + after) == "t"
    assert scanner.find(before + token[short : short + FRAGMENT - 1].encode() + after) is None
