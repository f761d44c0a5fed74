"""Password hasher for machine-generated secrets (OAuth client secrets).

Client secrets are 256-bit random strings: a single round of salted PBKDF2-SHA256 already makes
them impractical to reverse, whereas Django's default 10^6 rounds cost ~0.5 s of CPU on every
`/oauth/token` call. Human passwords keep Django's default hasher.
"""

from __future__ import annotations

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class RandomSecretHasher(PBKDF2PasswordHasher):
    algorithm = "ov_secret_sha256"
    iterations = 1
