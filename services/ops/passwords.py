"""Password hashing for ops users: argon2id, so a leaked configuration does not leak the password.

python -m services.ops.passwords            (reads a password from stdin, prints its hash)
"""

import sys

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


if __name__ == "__main__":
    print(hash_password(sys.stdin.readline().rstrip("\n")))
