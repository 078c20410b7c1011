"""Does a stored role password (pg_authid.rolpassword) match a password?

Checked locally so that a rerun neither resets the password nor sends it
anywhere; the verifier formats are PostgreSQL's (SCRAM per RFC 5803, md5).
"""
import base64
import hashlib
import hmac


def matches(verifier, role, password):
    if not verifier:
        return False
    if verifier.startswith("md5"):
        return verifier == "md5" + hashlib.md5((password + role).encode()).hexdigest()
    if verifier.startswith("SCRAM-SHA-256$"):
        try:
            head, keys = verifier[len("SCRAM-SHA-256$"):].split("$")
            iterations, salt = head.split(":")
            stored_key, _server_key = keys.split(":")
            salted = hashlib.pbkdf2_hmac("sha256", password.encode(),
                                         base64.b64decode(salt), int(iterations))
        except ValueError:
            return False
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(hashlib.sha256(client_key).digest()).decode(),
                                   stored_key)
    return False
