"""In-process cost of entra_auth's validation from Python (timeit), against the RS256 floor.

Usage: python validate_timeit.py ISSUER_URL TOKEN
- warm: Validator.validate on a token the verified-token cache holds (the steady state);
- cold: the same with the cache off (every call parses and verifies the signature);
- floor: one RS256 verification of the same token with the same key through the `cryptography`
  package (OpenSSL), also called from Python: the least a full check can cost here.
"""
import base64
import json
import sys
import time
import timeit
import urllib.request

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from entra_auth import Validator

TENANT_ID = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a"
CLIENT_ID = "a9e7b3c1-5d2f-4e6a-8b9c-1d2e3f4a5b6c"


def b64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def best_us(fn, number: int) -> float:
    """The best of 7 repeats of the calling thread's CPU time, in µs per call. Thread CPU time
    is what the call costs, whatever else the machine runs; the validation runs on the calling
    thread (the GIL released), so it is all counted."""
    return min(timeit.repeat(fn, number=number, repeat=7, timer=time.thread_time)) / number * 1e6


def main() -> None:
    instance, token = sys.argv[1], sys.argv[2]
    warm_v = Validator(TENANT_ID, CLIENT_ID, instance=instance)
    cold_v = Validator(TENANT_ID, CLIENT_ID, instance=instance, token_cache_size=0)
    warm_v.warm_up()
    cold_v.warm_up()
    warm_v.validate(token)

    head, payload, sig = token.split(".")
    kid = json.loads(b64(head))["kid"]
    with urllib.request.urlopen(f"{instance}{TENANT_ID}/discovery/v2.0/keys", timeout=10) as r:
        jwk = next(k for k in json.load(r)["keys"] if k["kid"] == kid)
    key = rsa.RSAPublicNumbers(int.from_bytes(b64(jwk["e"]), "big"), int.from_bytes(b64(jwk["n"]), "big")).public_key()
    signed, signature = f"{head}.{payload}".encode(), b64(sig)

    warm = best_us(lambda: warm_v.validate(token), 20000)
    cold = best_us(lambda: cold_v.validate(token), 2000)
    floor = best_us(lambda: key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256()), 2000)
    print(f"warm validate (cache hit)      {warm:8.2f} µs")
    print(f"cold validate (cache off)      {cold:8.2f} µs")
    print(f"RS256 verify floor (OpenSSL)   {floor:8.2f} µs")
    print(f"cold / floor                   {cold / floor:8.2f}")


if __name__ == "__main__":
    main()
