#!/usr/bin/env python3
"""Writes the seed corpora of the proto fuzz targets (run once; output is
committed). Frames are signed with the fixed key the decoder target uses."""
import hashlib, hmac, os, struct

KEY = b"private key to change"
UUID = bytes.fromhex("d42967c1f7ad464ebbc74464c653d7a6")
HERE = os.path.dirname(os.path.abspath(__file__))


def frame(ptype, payload, ts=0x6b06f4c2, key=KEY, size=None):
    size = len(payload) if size is None else size
    head = struct.pack("<BB16sQ", 1, ptype, UUID, ts)
    tail = struct.pack("<I", size)
    mac = hmac.new(key, head + b"\0" * 32 + tail + payload, hashlib.sha256).digest()
    return head + mac + tail + payload


def write(folder, name, data):
    with open(os.path.join(HERE, folder, name), "wb") as f:
        f.write(data)


vec = frame(1, b"hello d4\n")
assert vec.hex() == ("0101d42967c1f7ad464ebbc74464c653d7a6c2f4066b00000000"
                     "df265a57a7ef73826cd1221a72e17169bde8cec1ce9289cdb3a07b90a4bd1753"
                     "0900000068656c6c6f2064340a")
meta = b'{"type": "ja3-jl", "encoding": "utf-8", "tags": ["TLP:Amber", "misp:org=\\"5a8a7e64-c0ac-4b5e-bc89-b1cbd3b2a0c1\\""]}'
write("corpus_decoder", "vector.bin", vec)
write("corpus_decoder", "three_frames.bin", frame(1, b"hello d4\n") + frame(1, b"") + frame(3, b"a log line\n" * 3))
write("corpus_decoder", "meta_then_254.bin", frame(2, meta) + frame(254, b'{"ja3": "x"}\n') + frame(254, b""))
write("corpus_decoder", "meta_split.bin", frame(2, meta[:40]) + frame(2, meta[40:]) + frame(254, b"y" * 20))
write("corpus_decoder", "empty_frames.bin", b"".join(frame(8, b"", ts=i) for i in range(8)))
write("corpus_decoder", "truncated_header.bin", vec[:40])
write("corpus_decoder", "truncated_payload.bin", frame(1, b"z" * 30) + vec[:-5])
write("corpus_decoder", "oversize.bin", frame(1, b"", size=2000000)[:62] + b"x" * 17)
write("corpus_decoder", "bad_hmac.bin", frame(1, b"hello d4\n", key=b"wrong key") + vec)
write("corpus_meta", "valid.json", meta)
write("corpus_meta", "org_key.json", b'{"type":"maltrail","misp:org":"5a8a7e64c0ac4b5ebc89b1cbd3b2a0c1","tags":["tlp:green"]}')
write("corpus_meta", "other_keys.json", b'{"type":"x","n":[1,-2.5e10,123456789012345678901234567890,null,true,{"a":"\\u00e9\\""}]}\n')
write("corpus_meta", "truncated.json", meta[:57])
write("corpus_meta", "malformed.json", b'{"type":"x",}')
write("corpus_meta", "not_object.json", b'["type","x"]')
write("corpus_meta", "missing_type.json", b'{"tags":["tlp:red"]}')
write("corpus_meta", "deep.json", b'{"type":"x","a":' + b"[" * 40 + b"]" * 40 + b"}")
write("corpus_meta", "bad_org.json", b'{"type":"x","misp:org":"not-a-uuid"}')
