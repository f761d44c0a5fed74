"""RSA key pairs for local actors (HTTP signatures: RSA-2048, PKCS#1 v1.5, SHA-256)."""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def rsa_keypair_generate() -> tuple[str, str]:
    """Return (private PEM in PKCS#8, public PEM in SubjectPublicKeyInfo) for a new 2048-bit key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem
