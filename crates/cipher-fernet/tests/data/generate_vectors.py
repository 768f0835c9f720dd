"""Generates tests/data/vectors.json with Python's `cryptography` Fernet.

Run once (the output is committed):  .venv/bin/python crates/cipher-fernet/tests/data/generate_vectors.py

Every token is made with a fixed key, time and IV so the file is reproducible. The failure
cases are the ones the Fernet specification lists; tokens that must pass the HMAC check to
reach the failure (bad padding, wrong block size) are signed with the right key.
"""
import base64, hashlib, hmac, json, os, struct, sys

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
OTHER_KEY = "7HnTfh3kw1Hxe3Hp8A1HnUvUzw6TKzhbsYsV4KM4Iy8="
NOW = 499162800  # 1985-10-26T01:20:00-07:00, the spec's own moment
IV = bytes(range(16))
PLAIN = "Zoë Ñúñez — Ada Lovelace"

raw = base64.urlsafe_b64decode(KEY)
signing, encryption = raw[:16], raw[16:]


def sign(body: bytes) -> str:
    mac = hmac.new(signing, body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(body + mac).decode()


def body(ts: int, ciphertext: bytes) -> bytes:
    return b"\x80" + struct.pack(">Q", ts) + IV + ciphertext


def aes(data: bytes) -> bytes:
    enc = Cipher(algorithms.AES(encryption), modes.CBC(IV)).encryptor()
    return enc.update(data) + enc.finalize()


def padded(data: bytes) -> bytes:
    p = padding.PKCS7(128).padder()
    return p.update(data) + p.finalize()


good = Fernet(KEY)._encrypt_from_parts(PLAIN.encode(), NOW, IV).decode()
assert Fernet(KEY).decrypt_at_time(good.encode(), 60, NOW + 1).decode() == PLAIN

raw_good = base64.urlsafe_b64decode(good)
wrong_mac = base64.urlsafe_b64encode(raw_good[:-1] + bytes([raw_good[-1] ^ 1])).decode()
too_short = base64.urlsafe_b64encode(raw_good[:40]).decode()
invalid_b64 = "%%%%" + good[4:]
bad_block = sign(body(NOW, aes(padded(PLAIN.encode()))[:-1]))       # ciphertext length 16k-1
bad_padding = sign(body(NOW, aes(b"sixteen byte msg")))             # last block unpadded
far_future = sign(body(NOW + 3600, aes(padded(PLAIN.encode()))))
expired = good  # valid token, read 2 minutes later with a 60-second TTL
other_key_token = Fernet(OTHER_KEY)._encrypt_from_parts(b"rotated", NOW, IV).decode()

for token, ttl, now in [(wrong_mac, 60, NOW + 1), (too_short, 60, NOW + 1), (bad_block, 60, NOW + 1),
                        (bad_padding, 60, NOW + 1), (far_future, 60, NOW + 1), (expired, 60, NOW + 120)]:
    try:
        Fernet(KEY).decrypt_at_time(token.encode(), ttl, now)
        sys.exit(f"python accepted a token it should reject: {token}")
    except Exception:
        pass

vectors = {
    "secret": KEY,
    "other_secret": OTHER_KEY,
    "good": {"token": good, "now": NOW + 1, "ttl_sec": 60, "plaintext": PLAIN},
    "other_key": {"token": other_key_token, "now": NOW + 1, "plaintext": "rotated"},
    "invalid": [
        {"desc": "incorrect mac", "token": wrong_mac, "now": NOW + 1, "ttl_sec": 60},
        {"desc": "too short", "token": too_short, "now": NOW + 1, "ttl_sec": 60},
        {"desc": "invalid base64", "token": invalid_b64, "now": NOW + 1, "ttl_sec": 60},
        {"desc": "payload size not multiple of block size", "token": bad_block, "now": NOW + 1, "ttl_sec": 60},
        {"desc": "payload padding error", "token": bad_padding, "now": NOW + 1, "ttl_sec": 60},
        {"desc": "far-future timestamp (unacceptable clock skew)", "token": far_future, "now": NOW + 1, "ttl_sec": 60},
        {"desc": "expired ttl", "token": expired, "now": NOW + 120, "ttl_sec": 60},
    ],
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors.json")
with open(out, "w", encoding="utf-8") as f:
    json.dump(vectors, f, indent=2, ensure_ascii=False)
    f.write("\n")
print(f"wrote {out}")
