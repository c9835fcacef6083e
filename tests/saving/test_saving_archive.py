"""The model-file container: round trip, atomic writes, and one test per loading check."""

import json
import os
import sys
import zipfile

import numpy as np
import pytest

from filterbank.saving import ModelFileError, archive, read_archive, write_archive
from filterbank.saving.archive import CONFIG, METADATA, OPTIMIZER, WEIGHTS
from tests.saving.zipfuzz import (
    BOMB,
    BOMB_CRC,
    BOMB_SIZE,
    assemble,
    entry,
    join_safetensors,
    raw_zip,
    split_safetensors,
)

CFG = {"class_name": "Sequential", "config": {"name": "s", "layers": []}}


def tensors():
    rng = np.random.default_rng(0)
    return {
        WEIGHTS: {
            "dense/kernel": rng.normal(size=(4, 3)).astype("float32"),
            "dense/bias": rng.normal(size=3),  # float64 stays float64
            "empty/w": np.zeros((0, 3), "float32"),
        },
        OPTIMIZER: {"iterations": np.int64(11), "dense/kernel/m": np.ones((4, 3), "float32")},
    }


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.fbk"
    write_archive(path, CFG, {"note": "hi"}, tensors())
    return path


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def write_bytes(tmp_path, data, name="bad.fbk"):
    p = tmp_path / name
    p.write_bytes(data)
    return p


def load_error(path, match):
    with pytest.raises(ModelFileError, match=match) as info:
        read_archive(path)
    assert str(os.path.basename(path)) in str(info.value)
    return str(info.value)


# ---- round trip ---------------------------------------------------------------------------
def test_round_trip_is_exact(saved):
    got = read_archive(saved)
    assert got.config == {**CFG, "format_version": 1, "filterbank_version": "0.1.0"}
    want = tensors()
    for member, group in want.items():
        assert set(got.tensors[member]) == set(group)
        for name, arr in group.items():
            out = got.tensors[member][name]
            assert out.dtype == np.asarray(arr).dtype and out.shape == np.shape(arr)
            np.testing.assert_array_equal(out, arr)
            assert out.flags.writeable and out.flags.c_contiguous
    meta = got.metadata
    assert meta["format_version"] == archive.FORMAT_VERSION and meta["note"] == "hi"
    assert meta["numpy_version"] == np.__version__ and meta["date_saved"].endswith("+00:00")
    kernel = {"member": WEIGHTS, "name": "dense/kernel", "dtype": "float32", "shape": [4, 3]}
    assert kernel in meta["tensors"]


def test_members_and_compression(saved):
    with zipfile.ZipFile(saved) as zf:
        infos = {i.filename: i for i in zf.infolist()}
    assert list(infos) == [CONFIG, METADATA, WEIGHTS, OPTIMIZER]
    assert infos[CONFIG].compress_type == zipfile.ZIP_DEFLATED
    assert infos[WEIGHTS].compress_type == zipfile.ZIP_STORED


def test_optimizer_member_is_optional(tmp_path):
    path = tmp_path / "m.keras"  # any name is accepted, .keras included
    write_archive(path, CFG, {}, {WEIGHTS: tensors()[WEIGHTS]})
    assert OPTIMIZER not in read_archive(path).tensors


def test_deflated_tensors_from_other_zip_tools_are_read(saved, tmp_path):
    m = members(saved)
    p = write_bytes(tmp_path, raw_zip([entry(n, b, 8) for n, b in m.items()]))
    np.testing.assert_array_equal(
        read_archive(p).tensors[WEIGHTS]["dense/kernel"], tensors()[WEIGHTS]["dense/kernel"]
    )


def test_reads_older_format_versions(saved, monkeypatch):
    monkeypatch.setattr(archive, "FORMAT_VERSION", 3)
    assert read_archive(saved).metadata["format_version"] == 1


# ---- writing --------------------------------------------------------------------------------
def test_write_refuses_bad_dtypes_and_members(tmp_path):
    with pytest.raises(ValueError, match=r"'dense/kernel' has dtype int32.*astype\('float32'\)"):
        write_archive(
            tmp_path / "a.fbk", CFG, {}, {WEIGHTS: {"dense/kernel": np.zeros(2, "int32")}}
        )
    with pytest.raises(ValueError, match="unknown tensor members"):
        write_archive(tmp_path / "a.fbk", CFG, {}, {WEIGHTS: {}, "extra": {}})
    assert os.listdir(tmp_path) == []


def test_write_replaces_atomically_and_cleans_up_on_failure(saved, tmp_path):
    before = saved.read_bytes()

    def crash(fp):
        fp.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt  # a crash mid-write, even Ctrl-C

    with pytest.raises(KeyboardInterrupt):
        archive.atomic_write(str(saved), crash)
    assert saved.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.fbk"]  # no temporary file left behind
    write_archive(saved, {"class_name": "Other"}, {}, {WEIGHTS: {}})
    assert read_archive(saved).config["class_name"] == "Other"
    assert os.listdir(tmp_path) == ["model.fbk"]


def test_written_file_mode_follows_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_archive(tmp_path / "m.fbk", CFG, {}, {WEIGHTS: {}})
    finally:
        os.umask(old)
    assert (tmp_path / "m.fbk").stat().st_mode & 0o777 == 0o640


def test_write_errors_for_bad_targets(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_archive(tmp_path / "nope" / "m.fbk", CFG, {}, {WEIGHTS: {}})
    with pytest.raises(IsADirectoryError, match="is a directory"):
        write_archive(tmp_path, CFG, {}, {WEIGHTS: {}})


def test_missing_safetensors_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"pip install safetensors"):
        write_archive(tmp_path / "m.fbk", CFG, {}, {WEIGHTS: {}})


# ---- the file itself ------------------------------------------------------------------------
def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_archive(tmp_path / "absent.fbk")


def test_directory_empty_and_non_zip(tmp_path, saved):
    with pytest.raises(ModelFileError, match="not a regular file|cannot be opened"):
        read_archive(tmp_path)
    load_error(write_bytes(tmp_path, b""), r"it is empty \(0 bytes\)")
    load_error(write_bytes(tmp_path, b"\x93NUMPY\x01\x00" + b"\0" * 100), "not a zip file")
    weights_only = members(saved)[WEIGHTS]
    msg = load_error(write_bytes(tmp_path, weights_only, "w.safetensors"), "not a zip file")
    assert "load_weights" in msg


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX named pipes")
def test_fifo_and_devices_do_not_hang(tmp_path):
    fifo = tmp_path / "pipe.fbk"
    os.mkfifo(fifo)
    load_error(fifo, "it is not a regular file")
    with pytest.raises(ModelFileError, match="not a regular file"):
        read_archive("/dev/zero")


def test_too_many_members_rejected_before_parsing(saved, tmp_path):
    entries = [entry(n, b) for n, b in members(saved).items()]
    entries += [entry(f"f{i}", b"") for i in range(5000)]
    load_error(write_bytes(tmp_path, raw_zip(entries)), "holds 5004 members")


# ---- members ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, why",
    [
        ("../config.json", "a path outside the archive"),
        ("a/../../evil", "a path outside the archive"),
        ("/etc/passwd", "an absolute path"),
        ("C:\\evil", "an absolute path"),
        ("notes.txt", "unknown"),
        ("config.json\x00../evil", "unknown"),
    ],
)
def test_unknown_and_traversal_members(saved, tmp_path, name, why):
    m = members(saved)
    p = write_bytes(tmp_path, raw_zip([entry(n, b) for n, b in m.items()] + [entry(name, b"x")]))
    load_error(p, f"is {why}; a filterbank model holds only config.json")


def test_duplicate_and_missing_members(saved, tmp_path):
    m = members(saved)
    entries = [entry(n, b) for n, b in m.items()]
    load_error(
        write_bytes(tmp_path, raw_zip(entries + [entry(CONFIG, b"{}")])),
        "member 'config.json' appears 2 times",
    )
    for gone in (CONFIG, METADATA, WEIGHTS):
        p = write_bytes(tmp_path, assemble({n: b for n, b in m.items() if n != gone}))
        load_error(p, f"member '{gone}' is missing")


@pytest.mark.parametrize(
    "lie, match",
    [
        ({"flags": 0x1}, "is encrypted"),
        ({"flags": 0x20}, "unsupported zip features"),
        ({"method_field": 12}, "compression method 12"),
        ({"usize": 2**31}, "is stored uncompressed but declares"),
        ({"crc": 1234}, "cannot be read .*CRC"),
    ],
)
def test_header_checks(saved, tmp_path, lie, match):
    m = members(saved)
    entries = [entry(n, b, **(lie if n == WEIGHTS else {})) for n, b in m.items()]
    p = write_bytes(tmp_path, raw_zip(entries))
    load_error(p, match)


def test_local_header_must_agree_with_directory(saved, tmp_path):
    data = bytearray(assemble(members(saved)))
    data[22:26] = (10**6).to_bytes(4, "little")  # first member's local "uncompressed size"
    load_error(write_bytes(tmp_path, bytes(data)), "local header that disagrees")


def test_declared_sizes_are_capped(saved, tmp_path):
    m = members(saved)
    big = [entry(n, b, 8, **({"usize": 2**32 - 1} if n == WEIGHTS else {})) for n, b in m.items()]
    load_error(write_bytes(tmp_path, raw_zip(big)), "zip bomb")
    big_json = [
        entry(n, b, 8, **({"usize": 17 * 2**20} if n == CONFIG else {})) for n, b in m.items()
    ]
    load_error(write_bytes(tmp_path, raw_zip(big_json)), "a JSON member may hold")


def test_zip_bomb_honest_header(saved, tmp_path):
    m = members(saved)
    entries = [entry(n, b) for n, b in m.items() if n != WEIGHTS]
    entries.append(entry(WEIGHTS, b"", 8, raw=BOMB, crc=BOMB_CRC, csize=len(BOMB), usize=BOMB_SIZE))
    load_error(
        write_bytes(tmp_path, raw_zip(entries)), r"would expand .* \(more than 100x\): a zip bomb"
    )


def test_zip_bomb_lying_header_reads_only_the_declared_bytes(saved, tmp_path):
    m = members(saved)
    entries = [entry(n, b) for n, b in m.items() if n != WEIGHTS]
    entries.append(entry(WEIGHTS, b"", 8, raw=BOMB, crc=BOMB_CRC, csize=len(BOMB), usize=1000))
    load_error(
        write_bytes(tmp_path, raw_zip(entries)), "member 'model.weights.safetensors' cannot be read"
    )


# ---- JSON members ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, match",
    [
        (b'{\n  "a": 1,\n  oops\n}', r"member 'config.json' is not valid JSON \(line 3, column 3"),
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b"\xff\xfe{}", "is not UTF-8 text"),
        (b"[" * 100 + b"]" * 100, "nests JSON more than 64 levels deep"),
        (b"[" * 200_000 + b"]" * 200_000, "nests JSON"),
        (b'{"a": ' + b"9" * 5000 + b"}", "not valid JSON"),
        (b"[1, 2]", "member 'config.json' is not a JSON object"),
        (b'{"format_version": "1"}', "format_version '1'; expected a positive integer"),
        (b'{"format_version": 1.0}', "expected a positive integer"),
    ],
)
def test_config_json_checks(saved, tmp_path, text, match):
    m = members(saved)
    m[CONFIG] = text
    msg = load_error(write_bytes(tmp_path, assemble(m)), match)
    assert msg.endswith("The file is damaged or not a filterbank model.")


def test_newer_format_is_refused_with_upgrade_advice(saved, tmp_path):
    m = members(saved)
    for member in (METADATA, CONFIG):
        doc = json.loads(m[member])
        doc.update(format_version=2, filterbank_version="9.9.9")
        m[member] = json.dumps(doc).encode()
    load_error(
        write_bytes(tmp_path, assemble(m)),
        r"made by filterbank 9\.9\.9 with format 2; this filterbank \(0\.1\.0\) reads up to "
        r"format 1\. Upgrade filterbank",
    )


def test_config_and_metadata_must_agree_on_version(saved, tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "FORMAT_VERSION", 2)
    m = members(saved)
    doc = json.loads(m[CONFIG])
    doc["format_version"] = 2
    m[CONFIG] = json.dumps(doc).encode()
    load_error(write_bytes(tmp_path, assemble(m)), "disagree on format_version")


def test_metadata_tensor_list_must_match(saved, tmp_path):
    m = members(saved)
    doc = json.loads(m[METADATA])
    doc["tensors"][0]["shape"] = [99]
    m[METADATA] = json.dumps(doc).encode()
    load_error(
        write_bytes(tmp_path, assemble(m)), "member 'metadata.json' (does not )?lists? tensor"
    )
    doc["tensors"] = "all"
    m[METADATA] = json.dumps(doc).encode()
    load_error(write_bytes(tmp_path, assemble(m)), "has no 'tensors' list")


# ---- safetensors members ----------------------------------------------------------------------
def _with_header(saved, tmp_path, change):
    m = members(saved)
    header, body = split_safetensors(m[WEIGHTS])
    change(header)
    m[WEIGHTS] = join_safetensors(header, body)
    return write_bytes(tmp_path, assemble(m))


def test_safetensors_dtype_shape_offsets(saved, tmp_path):
    def dtype(h):
        h["dense/kernel"]["dtype"] = "F16"

    def shape(h):
        h["dense/kernel"]["shape"] = [3, 4, 2]

    def offsets(h):
        h["dense/kernel"]["data_offsets"] = [0, 10**9]

    def keys(h):
        h["dense/kernel"]["extra"] = 1

    load_error(_with_header(saved, tmp_path, dtype), "has dtype 'F16'; only F32, F64 are allowed")
    load_error(
        _with_header(saved, tmp_path, shape),
        r"has shape \(3, 4, 2\) \(96 bytes\) but 48 data bytes",
    )
    load_error(_with_header(saved, tmp_path, offsets), "outside the")
    load_error(_with_header(saved, tmp_path, keys), "must have exactly the keys")


def test_safetensors_length_prefix_and_overlap(saved, tmp_path):
    m = members(saved)
    blob = m[WEIGHTS]
    m[WEIGHTS] = (2**63).to_bytes(8, "little") + blob[8:]
    load_error(write_bytes(tmp_path, assemble(m)), "declares a safetensors header of")
    header, body = split_safetensors(blob)
    a, b = header["dense/bias"]["data_offsets"]  # point another tensor at the same bytes
    header["empty/w"] = {"dtype": "F32", "shape": [0, 3], "data_offsets": [a, a]}
    header["dense/kernel"]["data_offsets"] = [a, a + 48]
    m[WEIGHTS] = join_safetensors(header, body)
    load_error(write_bytes(tmp_path, assemble(m)), "(not a valid safetensors file|outside)")


def test_optimizer_state_may_hold_int64_but_weights_may_not(saved, tmp_path):
    def to_int(h):
        h["dense/bias"]["dtype"] = "I64"

    load_error(_with_header(saved, tmp_path, to_int), "has dtype 'I64'")
