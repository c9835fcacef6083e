"""Hypothesis strategies that turn one valid model file into damaged or hostile variants.

``mutated_files(members)`` draws a (kind, bytes) pair from a valid archive given as
``{member name: uncompressed bytes}``. Kinds cover byte-level damage (truncation, flips,
splices, random bytes), zip-structure attacks (lying size fields, bombs, path traversal,
duplicate / missing / extra / nested members) and content attacks (invalid JSON, wrong types,
hostile class names, wrong safetensors headers). The zip is assembled by a tiny raw writer so
that headers can lie in ways ``zipfile`` would refuse to write.
"""

from __future__ import annotations

import json
import struct
import zlib

from hypothesis import strategies as st

CONFIG, METADATA = "config.json", "metadata.json"
WEIGHTS, OPTIMIZER = "model.weights.safetensors", "optimizer.safetensors"
ORDER = (CONFIG, METADATA, WEIGHTS, OPTIMIZER)

HOSTILE_NAMES = [
    "../config.json",
    "../../etc/passwd",
    "/config.json",
    "/tmp/evil",
    "C:\\evil.json",
    "..\\..\\evil",
    "a/../../b",
    "./config.json",
    "config.json/",
    "CONFIG.JSON",
    "config.json ",
    "config.json\x00../evil",
    "inner.zip",
    "model.weights.safetensors.bak",
    "__init__.py",
    "weights/",
    "",
    "x" * 300,
]
HOSTILE_CLASSES = [
    "os.system",
    "__import__",
    "builtins.eval",
    "subprocess.Popen",
    "posix.system",
    "Lambda",
    "eval",
    "exec",
    "Layer",
    "Model",
    "KerasTensor",
    "dense",
    "Dense ",
    "Dense\x00",
    "__class__",
    "filterbank.layers.Dense",
    "",
    None,
    1,
    ["Dense"],
    {"a": 1},
]
JSON_JUNK = [
    b"",
    b"{",
    b"}",
    b"[]",
    b"null",
    b"1",
    b'"config"',
    b"{'a': 1}",
    b'{"a": 1,}',
    b"\xff\xfe{}",
    b"\xef\xbb\xbf{}",
    b'{"a": NaN}',
    b'{"a": 1, "a": 2}',
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a": ' + b"9" * 5000 + b"}",
    b'{"a": "\\ud800"}',
    b"\x00" * 64,
    b'{"a": 1e999}',
    b'{"format_version": 1, "filterbank_version": "0.1.0", "tensors": "all"}',
]
EXTREME = [0, 1, 2**16 - 1, 2**31 - 1, 2**31, 2**32 - 1, 2**40]
BOMB_SIZE = 48 * 1024**2
_BOMB = zlib.compressobj(9, zlib.DEFLATED, -15)
BOMB = _BOMB.compress(b"\0" * BOMB_SIZE) + _BOMB.flush()  # ~48 KiB expanding to 48 MiB
BOMB_CRC = zlib.crc32(b"\0" * BOMB_SIZE)


# ---- a raw zip writer whose headers may lie ---------------------------------------------------
def entry(name, payload: bytes, method: int = 0, **lies) -> dict:
    """One member: ``payload`` compressed with ``method`` (0 stored, 8 deflated), true headers
    unless overridden by ``lies`` (crc, csize, usize, flags, method_field, raw)."""
    if method == 8:
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw = c.compress(payload) + c.flush()
    else:
        raw = payload
    e = {
        "name": name,
        "raw": raw,
        "method": method,
        "crc": zlib.crc32(payload),
        "csize": len(raw),
        "usize": len(payload),
        "flags": 0,
    }
    e.update(lies)
    return e


def raw_zip(entries: list[dict], comment: bytes = b"") -> bytes:
    out, central = bytearray(), bytearray()
    for e in entries:
        name = e["name"].encode("utf-8") if isinstance(e["name"], str) else e["name"]
        flags = e["flags"] | (0x800 if not name.isascii() else 0)
        method = e.get("method_field", e["method"])
        offset = len(out)
        out += (
            struct.pack(
                "<4s5H3L2H",
                b"PK\x03\x04",
                20,
                flags,
                method,
                0,
                0x21,
                e["crc"] & 0xFFFFFFFF,
                e["csize"] & 0xFFFFFFFF,
                e["usize"] & 0xFFFFFFFF,
                len(name),
                0,
            )
            + name
            + e["raw"]
        )
        central += (
            struct.pack(
                "<4s6H3L5H2L",
                b"PK\x01\x02",
                0x0314,
                20,
                flags,
                method,
                0,
                0x21,
                e["crc"] & 0xFFFFFFFF,
                e["csize"] & 0xFFFFFFFF,
                e["usize"] & 0xFFFFFFFF,
                len(name),
                0,
                0,
                0,
                0,
                0o644 << 16,
                offset,
            )
            + name
        )
    n = len(entries) & 0xFFFF
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, n, n, len(central), len(out), len(comment))
    return bytes(out + central + eocd + comment)


def assemble(members: dict[str, bytes], deflate_json: bool = True) -> bytes:
    """A valid archive from ``{name: bytes}``: JSON deflated, tensors stored (as filterbank)."""
    return raw_zip(
        [entry(n, b, 8 if deflate_json and n.endswith(".json") else 0) for n, b in members.items()]
    )


# ---- safetensors helpers ----------------------------------------------------------------------
def split_safetensors(blob: bytes):
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def join_safetensors(header, body: bytes, pad: bool = True) -> bytes:
    h = json.dumps(header).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return len(h).to_bytes(8, "little") + h + body


# ---- strategies ------------------------------------------------------------------------------
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(HOSTILE_CLASSES[:8]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(value, prefix=()):
    """Every (path, node) in a JSON document, for picking a subtree to replace."""
    yield prefix, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _replace(doc, path, new):
    if not path:
        return new
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return doc


@st.composite
def mutated_files(draw, members: dict[str, bytes]):
    """Draw ``(kind, file bytes)``: one damaged or hostile variant of a valid archive."""
    kind = draw(st.sampled_from(sorted(_KINDS)))
    return kind, _KINDS[kind](draw, dict(members))


def _truncate(draw, m):
    data = assemble(m)
    return data[: draw(st.integers(0, len(data) - 1))]


def _flip(draw, m):
    data = bytearray(assemble(m))
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    return bytes(data)


def _flip_in_zip_structure(draw, m):
    # Aim the damage at headers (the first bytes of each member and the directory at the end).
    data = bytearray(assemble(m))
    starts = [i for i in range(len(data) - 3) if data[i : i + 2] == b"PK"]
    for _ in range(draw(st.integers(1, 4))):
        base = draw(st.sampled_from(starts))
        pos = min(len(data) - 1, base + draw(st.integers(0, 45)))
        data[pos] = draw(st.integers(0, 255))
    return bytes(data)


def _splice(draw, m):
    data = assemble(m)
    a = draw(st.integers(0, len(data)))
    b = draw(st.integers(a, min(len(data), a + 64)))
    return data[:a] + draw(st.binary(max_size=64)) + data[b:]


def _random_bytes(draw, m):
    prefix = draw(st.sampled_from([b"", b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY", b"\x80\x04"]))
    data = prefix + draw(st.binary(max_size=2048))
    if draw(st.booleans()):  # a valid-looking end record around garbage
        data += struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, 46, 0, 0)
    return data or b"\0"


def _drop_member(draw, m):
    del m[draw(st.sampled_from(sorted(m)))]
    return assemble(m)


def _extra_member(draw, m):
    name = draw(st.sampled_from(HOSTILE_NAMES) | st.text(min_size=1, max_size=30))
    payload = draw(st.sampled_from([b"", b"import os; os.system('touch pwned')", assemble(m)]))
    entries = [entry(n, b, 8) for n, b in m.items()]
    entries.insert(draw(st.integers(0, len(entries))), entry(name, payload, 8))
    return raw_zip(entries)


def _duplicate_member(draw, m):
    name = draw(st.sampled_from(sorted(m)))
    entries = [entry(n, b, 8) for n, b in m.items()]
    other = draw(st.sampled_from([m[name], b"{}", b"\0" * 16]))
    entries.insert(draw(st.integers(0, len(entries))), entry(name, other, 8))
    return raw_zip(entries)


def _rename_member(draw, m):
    old = draw(st.sampled_from(sorted(m)))
    new = draw(st.sampled_from(HOSTILE_NAMES))
    return raw_zip([entry(new if n == old else n, b, 8) for n, b in m.items()])


def _lying_header(draw, m):
    target = draw(st.sampled_from(sorted(m)))
    field = draw(st.sampled_from(["csize", "usize", "crc", "flags", "method_field"]))
    if field == "flags":
        value = draw(st.sampled_from([0x1, 0x8, 0x20, 0x40, 0x2000, 0xFFFF]))
    elif field == "method_field":
        value = draw(st.sampled_from([1, 6, 9, 12, 14, 93, 99, 0xFFFF]))
    else:
        value = draw(st.sampled_from(EXTREME) | st.integers(0, 2**32 - 1))
    method = draw(st.sampled_from([0, 8]))
    return raw_zip(
        [entry(n, b, method, **({field: value} if n == target else {})) for n, b in m.items()]
    )


def _bomb(draw, m):
    target = draw(st.sampled_from(ORDER))
    honest = draw(st.booleans())
    usize = BOMB_SIZE if honest else draw(st.sampled_from([100, len(m.get(target, b"")), 2**20]))
    entries = [entry(n, b, 8) for n, b in m.items() if n != target]
    entries.append(entry(target, b"", 8, raw=BOMB, crc=BOMB_CRC, csize=len(BOMB), usize=usize))
    return raw_zip(entries)


def _nested_zip(draw, m):
    target = draw(st.sampled_from(sorted(m)))
    m[target] = assemble(dict(m))
    return assemble(m)


def _json_text(draw, m):
    m[draw(st.sampled_from([CONFIG, METADATA]))] = draw(
        st.sampled_from(JSON_JUNK) | st.binary(max_size=200)
    )
    return assemble(m)


def _json_value(draw, m):
    target = draw(st.sampled_from([CONFIG, METADATA]))
    doc = json.loads(m[target])
    paths = [p for p, _ in _paths(doc)]
    path = draw(st.sampled_from(paths))
    if draw(st.integers(0, 4)) == 0 and path:  # delete a key / item instead of replacing it
        node = doc
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    else:
        doc = _replace(doc, path, draw(json_values))
    m[target] = json.dumps(doc).encode()
    return assemble(m)


def _version(draw, m):
    target = draw(st.sampled_from([CONFIG, METADATA]))
    doc = json.loads(m[target])
    doc["format_version"] = draw(
        st.sampled_from([0, 2, 999, -1, "1", 1.0, None, True, 10**30, [1]])
    )
    m[target] = json.dumps(doc).encode()
    return assemble(m)


def _class_name(draw, m):
    doc = json.loads(m[CONFIG])
    keys = ("class_name", "module", "registered_name")
    spots = [p for p, _ in _paths(doc) if p and p[-1] in keys]
    name = draw(st.sampled_from(HOSTILE_CLASSES) | st.text(max_size=20))
    if spots:
        doc = _replace(doc, draw(st.sampled_from(spots)), name)
    else:
        doc["class_name"] = name
    m[CONFIG] = json.dumps(doc).encode()
    return assemble(m)


def _layer_arg(draw, m):
    # Extreme values for the numbers and names inside layer configs (units, filters, shapes...).
    doc = json.loads(m[CONFIG])
    spots = [
        p
        for p, v in _paths(doc)
        if p
        and (
            isinstance(v, (int, float))
            and not isinstance(v, bool)
            or p[-1] in ("name", "padding", "activation", "dtype", "data_format")
        )
    ]
    if not spots:
        return assemble(m)
    value = draw(
        st.sampled_from(
            [
                0,
                -1,
                2**31,
                10**12,
                2**63,
                -(2**63),
                1e308,
                -0.0,
                0.5,
                True,
                "",
                "same",
                "../x",
                "float16",
                "object",
                "U1000000",
                [10**9, 10**9],
                None,
            ]
        )
    )
    m[CONFIG] = json.dumps(_replace(doc, draw(st.sampled_from(spots)), value)).encode()
    return assemble(m)


def _safetensors_header(draw, m):
    target = draw(st.sampled_from([n for n in (WEIGHTS, OPTIMIZER) if n in m]))
    header, body = split_safetensors(m[target])
    names = [k for k in header if k != "__metadata__"]
    what = draw(
        st.sampled_from(
            ["shape", "dtype", "offsets", "drop", "add", "rename", "meta", "length", "junk"]
        )
    )
    name = draw(st.sampled_from(names)) if names else None
    if what == "shape" and name:
        shape = header[name]["shape"]
        header[name]["shape"] = draw(
            st.sampled_from(
                [
                    shape[::-1],
                    shape + [1],
                    shape[:-1],
                    [d + 1 for d in shape],
                    [-1],
                    [2**40, 2**40],
                    [0],
                    ["3"],
                    None,
                    [1.5],
                    [True],
                ]
            )
        )
    elif what == "dtype" and name:
        header[name]["dtype"] = draw(
            st.sampled_from(
                ["F16", "BF16", "I32", "I64", "U8", "BOOL", "C64", "F8_E4M3", "f32", "", None, 4]
            )
        )
    elif what == "offsets" and name:
        b, e = header[name]["data_offsets"]
        header[name]["data_offsets"] = draw(
            st.sampled_from(
                [[e, b], [b, e + 4], [b + 4, e + 4], [0, 2**62], [-4, e], [b], None, [b, e, e]]
            )
        )
    elif what == "drop" and name:
        del header[name]
    elif what == "add":
        header[draw(st.sampled_from(["extra/kernel", name or "x", "../x"]))] = {
            "dtype": "F32",
            "shape": [1],
            "data_offsets": [len(body), len(body) + 4],
        }
        body += b"\0\0\0\0"
    elif what == "rename" and name:
        header[draw(st.text(min_size=1, max_size=12))] = header.pop(name)
    elif what == "meta":
        header["__metadata__"] = draw(st.sampled_from([{"format": 1}, [], "x", {"a": None}]))
    elif what == "length":
        blob = m[target]
        n = int.from_bytes(blob[:8], "little")
        new = draw(st.sampled_from([0, 1, n - 1, n + 1, len(blob), 2**63, 2**64 - 1]))
        m[target] = (new % 2**64).to_bytes(8, "little") + blob[8:]
        return assemble(m)
    else:
        m[target] = draw(st.binary(max_size=64)) + m[target][draw(st.integers(0, 16)) :]
        return assemble(m)
    m[target] = join_safetensors(header, body, pad=draw(st.booleans()))
    return assemble(m)


def _safetensors_data(draw, m):
    target = draw(st.sampled_from([n for n in (WEIGHTS, OPTIMIZER) if n in m]))
    blob = m[target]
    cut = draw(st.integers(-16, 16))
    m[target] = blob[:cut] if cut < 0 else blob + b"\0" * cut
    return assemble(m)


def _metadata_listing(draw, m):
    doc = json.loads(m[METADATA])
    listing = doc["tensors"]
    if listing and draw(st.booleans()):
        item = listing[draw(st.integers(0, len(listing) - 1))]
        key = draw(st.sampled_from(["member", "name", "dtype", "shape"]))
        item[key] = draw(st.sampled_from(["float16", [1, 2, 3], "x", None, OPTIMIZER, 5]))
    elif listing:
        listing.pop(draw(st.integers(0, len(listing) - 1)))
    else:
        listing.append({"member": WEIGHTS, "name": "ghost", "dtype": "float32", "shape": [1]})
    m[METADATA] = json.dumps(doc).encode()
    return assemble(m)


def _many_members(draw, m):
    entries = [entry(n, b, 8) for n, b in m.items()]
    entries += [entry(f"f{i}", b"", 0) for i in range(draw(st.sampled_from([10, 2000])))]
    return raw_zip(entries)


_KINDS = {
    "truncate": _truncate,
    "flip": _flip,
    "flip_zip_structure": _flip_in_zip_structure,
    "splice": _splice,
    "random_bytes": _random_bytes,
    "drop_member": _drop_member,
    "extra_member": _extra_member,
    "duplicate_member": _duplicate_member,
    "rename_member": _rename_member,
    "lying_header": _lying_header,
    "zip_bomb": _bomb,
    "nested_zip": _nested_zip,
    "json_text": _json_text,
    "json_value": _json_value,
    "format_version": _version,
    "class_name": _class_name,
    "layer_arg": _layer_arg,
    "safetensors_header": _safetensors_header,
    "safetensors_data": _safetensors_data,
    "metadata_listing": _metadata_listing,
    "many_members": _many_members,
}
KINDS = sorted(_KINDS)
