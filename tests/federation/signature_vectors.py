"""Fixed HTTP-signature test vectors, produced outside our code with OpenSSL.

TEST ONLY: the key below is a throwaway generated for these fixtures and protects nothing.

How they were made (OpenSSL 3, 2026-07):

    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem
    printf '%s' "$BODY" > body.json
    DIGEST="SHA-256=$(openssl dgst -sha256 -binary body.json | base64 -w0)"
    printf '(request-target): post /users/bob/inbox\nhost: ourvoice.example\n...' > string.txt
    openssl dgst -sha256 -sign key.pem string.txt | base64 -w0

The signing strings are spelled out below exactly as they were signed.
"""

from __future__ import annotations

TEST_PRIVATE_KEY = """\
-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQC6WVSwvRieqNnd
2WKSANA7AnMB1GE+LujCrNsqmdKrjfErY/rDBLf+byzOZR6QFTqI7BqQcTHODGBa
YNZipN+PmB0R2S63VLUjhcLyey0AH/xyuYY6IQ0WDdSmfle2CvjNgTQhDLiR/uMN
S/rhXlsWhjfbUta+cEAjIP9yFw7DE1AUjaDIK7YZCS86E6rsZH6hiLuX7UaGTcvs
oQCS0GaJVfkPMCEatE5ut+QT61tbotG5aw+D1QTgrw10nUVL/qIWfgpy97ftRv4x
CLnVl1WkunH9pEbCKdZ201Awan3jtvUEPBXUEk7m3QPlARr3/ndLzM5hpNK/MWCo
MnS0+ZxBAgMBAAECggEAAeUNzDLNyqROX3YfTXs9W6rorhAOAZ8a3u5O157oYyfG
gq09UTyWkuYEbnkkdcXcmIfdX9Y3QAIdtQWLiykrKqSwRsHECRXH7ymrNZQ9i0+y
nUd0lIRzWNzA3FpoA2dBi4mZsVcczMNx80mFoCbWCYqQqIz8KO6aFh+TTAJtLPiH
DOA+x08ikJsK7OFsvxGndTYYA0N6rdsxmpGwTBw7pBkBJzgvVLwvRnDB5kLb6Vcq
gei9baIdeJfh8t3camatj3CUzxUrLXykqWPu61O5iTBab+hDyIUkgPknP50e3+Wr
51SyiUbqVdzeRxR719LpBsfnCjYbSfMZwp4SBBUwfQKBgQDhxAHf68C9FLP7zgTb
5XeEwGLW8wiomwbZLuCoNvdUO7G2ANcOpxshTD2HJRdXscjD3vKSLzzhMAfU3Y3B
Q8Jdjm3CCCri3iAp0uum15K5xM295ZdTq5v2swhoMXkGbjVP4oqOq9Ku6P0VyPgr
BeT8UoLiH/Vofo54Qlog8W6kFQKBgQDTTf0UTWjVXelHNx7Xi5yDTl93KoEH0qHK
CPK79X7+DLlZPdWko9Pom3LsI1mvFuVe+1GXFkF3tmh0xyfd1CTDLdLpSAJABkRd
XerBmKhXhkiO/CGD4If+3CNaL4cbkfBoL3ls31D8sgSLLAmxSBF90wmDoa8CawCQ
73H1AW8GfQKBgQCSA4T636zOHV+ykbIOzkAYeZzzTEfjVDB/spPV94bK0bjD75Mn
hOhFBtwcVd7c9rzUAZN8/FQxiDDoeUo/HqXMgFt4THQAOo0uv51tUKsyvpgaIy1W
Df1W9r+PM8AEaq7MNcZLM9GVElbtCgeHO863al4ABY9gv8lA+hj0iXF3aQKBgFUE
3xxJHTIkbBUkX3t4iAvo/85RwsLkBAbnXMs1ttf/RKBcmdZ5uGyyByZt/srNGpMB
6c0xvjutoA/EhgziK7yAdok4WPdrzhwHCsrEYo98zzsAxXdrYyyvZGYIE4OLT8CL
wX6Fx+80rVFV8bxr8+W9gOl+p40AgqTOQvrCjep9AoGBAIEHC6bMU2SL8roJslMk
5wumYeW7AmOy8pUuSc3KjzUMX689/nj/St2qxYJz/DOHlJlMHJhgpc14GwoDjt1S
dvmWIvvGswuF1NoVl7ougFR9n3X4zr8dSPUSJ7xT31BWpfUbU8Mpvy+a/NE72ZL4
2sbsigciPXe/Je2bQcRoNTHi
-----END PRIVATE KEY-----
"""

TEST_PUBLIC_KEY = """\
-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAullUsL0YnqjZ3dlikgDQ
OwJzAdRhPi7owqzbKpnSq43xK2P6wwS3/m8szmUekBU6iOwakHExzgxgWmDWYqTf
j5gdEdkut1S1I4XC8nstAB/8crmGOiENFg3Upn5Xtgr4zYE0IQy4kf7jDUv64V5b
FoY321LWvnBAIyD/chcOwxNQFI2gyCu2GQkvOhOq7GR+oYi7l+1Ghk3L7KEAktBm
iVX5DzAhGrRObrfkE+tbW6LRuWsPg9UE4K8NdJ1FS/6iFn4Kcve37Ub+MQi51ZdV
pLpx/aRGwinWdtNQMGp947b1BDwV1BJO5t0D5QEa9/53S8zOYaTSvzFgqDJ0tPmc
QQIDAQAB
-----END PUBLIC KEY-----
"""

KEY_ID = "https://remote.example/users/alice#main-key"
ACTOR = "https://remote.example/users/alice"

BODY = (
    b'{"@context":"https://www.w3.org/ns/activitystreams",'
    b'"id":"https://remote.example/users/alice/statuses/1/activity","type":"Create",'
    b'"actor":"https://remote.example/users/alice",'
    b'"object":{"id":"https://remote.example/users/alice/statuses/1","type":"Note",'
    b'"attributedTo":"https://remote.example/users/alice","content":"<p>Hello</p>",'
    b'"to":["https://www.w3.org/ns/activitystreams#Public"]}}'
)
DIGEST = "SHA-256=Em6UcGBhIfcRiUaF9p+yRqjP1Z+QNVPPFO0jO5jIn0A="
CONTENT_DIGEST = "sha-256=:Em6UcGBhIfcRiUaF9p+yRqjP1Z+QNVPPFO0jO5jIn0A=:"
DATE = "Tue, 07 Jul 2026 12:00:00 GMT"
CREATED = 1783425600  # the same moment as DATE

# --- draft-cavage, as Mastodon sends it -----------------------------------------------------
CAVAGE_SIGNING_STRING = (
    "(request-target): post /users/bob/inbox\n"
    "host: ourvoice.example\n"
    "date: Tue, 07 Jul 2026 12:00:00 GMT\n"
    "digest: SHA-256=Em6UcGBhIfcRiUaF9p+yRqjP1Z+QNVPPFO0jO5jIn0A=\n"
    "content-type: application/activity+json"
)
CAVAGE_SIGNATURE = (
    "AH68c4/Owazj67gYgCXDe1a5UQBqUkTHMVqStkeBVN5acqFYqPcTuD4vXmy6TZJfOd4j99GvfyiYOL+cCm//zhuT"
    "5w74jgS1e1G07Q5XstOCOeus7YLMnhfgh6ZULwX3jrD6KHUwgQaMwcf1bSdfUkqN+GQcLk59ahJYFOAXnQ81WS7n"
    "gan4GXjSLEgweGUd2VppVM8WLhNt+6eiCFjxVVtmwAtOY5DSIDWrkKXxkbpUtF+EPITUHaCzbZWzVF2cw7mmf1Y4"
    "cpQMK5relq1VdWkp1x1YN7LzewGH6km4A9ETnaS2SEWLyTkzRk9qgPr3Ry31M+jCJvPHbdlXbpYF8Q=="
)
CAVAGE_HEADERS = {
    "Host": "ourvoice.example",
    "Date": DATE,
    "Digest": DIGEST,
    "Content-Type": "application/activity+json",
    "Signature": (
        f'keyId="{KEY_ID}",algorithm="rsa-sha256",'
        'headers="(request-target) host date digest content-type",'
        f'signature="{CAVAGE_SIGNATURE}"'
    ),
}

# --- RFC 9421 -------------------------------------------------------------------------------
RFC9421_SIGNATURE_PARAMS = (
    '("@method" "@target-uri" "content-digest" "content-type")'
    f';created={CREATED};keyid="{KEY_ID}";alg="rsa-v1_5-sha256"'
)
RFC9421_SIGNATURE_BASE = (
    '"@method": POST\n'
    '"@target-uri": https://ourvoice.example/users/bob/inbox\n'
    f'"content-digest": {CONTENT_DIGEST}\n'
    '"content-type": application/activity+json\n'
    f'"@signature-params": {RFC9421_SIGNATURE_PARAMS}'
)
RFC9421_SIGNATURE = (
    "lJiqQiry7nwYpjl9J/qs1Glpb/giCkfVhWxcUmypwn5V101K342d5UW8pt/dGJsKb2zavn9iSiptvACELTNPkwtq"
    "7bKwh3XbMEI9AV5ZvHT6/MkRNSxWVhBV18uMiZgPUDxL/YKNnlrVbK4xTbbm+Ig8Gdnn8oofun1F/9BPKua+2lhD"
    "iUwrG+eFpKLW/rl5ljfv9Btbl8BhNfwThU+sF6WbGPoGb9dOtpK1bVK7+npYU0Z7tiW2TUTkPfi/A0VvT7tDuIQl"
    "LrELJUhpNQOiNwmshcYlnF+RDxRj7lhCON8vlMa0wb/D46MQQzzuML4MJTOA4x9/Hc5vtVHUAsTUZQ=="
)
RFC9421_HEADERS = {
    "Host": "ourvoice.example",
    "Content-Digest": CONTENT_DIGEST,
    "Content-Type": "application/activity+json",
    "Signature-Input": f"sig1={RFC9421_SIGNATURE_PARAMS}",
    "Signature": f"sig1=:{RFC9421_SIGNATURE}:",
}
