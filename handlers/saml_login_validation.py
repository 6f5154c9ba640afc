"""Validate a posted SAMLResponse for the SAML-login flow: strict, and stricter than python3-saml alone.

python3-saml's strict mode checks the signature, issuer, status, assertion count and timestamps, but it
accepts a Destination that merely starts with the ACS URL, a Recipient that merely contains it, an
assertion with no Audience at all, and no NotOnOrAfter. So the document is first parsed here with entity
expansion and DTDs refused, checked for the shapes signature wrapping needs (every signature references
its own parent, one assertion, directly under the Response, unique IDs, no comments, only allow-listed
algorithms), checked exactly for destination, recipient, audience and time with the configured clock
skew — then handed to python3-saml for the signature and its own checks. The identity is finally read
from the verified assertion here, exactly as signed (the library strips values and drops blank ones).
Every refusal carries a reason code for the logs.
"""
from __future__ import annotations

import base64
import binascii
import calendar
import datetime as dt
import os
import re
import threading
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from lxml import etree

XSI = "http://www.w3.org/2001/XMLSchema-instance"
# Characters that look like nothing yet str.strip() keeps: a value may not start or end with them either.
_INVISIBLE_EDGES = "\u180e\u200b\u200c\u200d\u2060\ufeff"
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
RESPONSE = f"{{{NS['samlp']}}}Response"
ASSERTION = f"{{{NS['saml']}}}Assertion"
ENCRYPTED_ASSERTION = f"{{{NS['saml']}}}EncryptedAssertion"
SIGNATURE = f"{{{NS['ds']}}}Signature"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
# The only transforms a SAML signature needs; anything else (XPath, XSLT, c14n with comments) is refused.
ALLOWED_TRANSFORMS = {
    "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
}
# Every Signature in the document uses only these (an allow-list: anything unlisted, such as MD5, SHA-1,
# DSA or inclusive c14n, is refused before the signature is even checked).
EXCLUSIVE_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ALLOWED_SIGNATURE_METHODS = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
}
ALLOWED_DIGEST_METHODS = {
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
}
# CreatePresignedDomainUrl's own patterns: anything else cannot name a domain or profile, and must not
# reach an ARN or a log line.
DOMAIN_ID = re.compile(r"d-(-*[a-z0-9]){1,61}")
USER_PROFILE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
MAX_SKEW = 300  # python3-saml's own fixed allowance on Conditions; a wider skew could not take effect
# The ACS URL: scheme, host (and port), path. python3-saml compares the Destination against a URL built from it.
ACS_URL_PARTS = re.compile(r"(https?)://([^/]+)(/.*)?")

# python3-saml error codes (OneLogin_Saml2_ValidationError) → our reason codes
_LIBRARY_REASONS = {
    0: "schema_invalid", 1: "schema_invalid", 2: "assertion_count", 3: "status_not_success",
    4: "status_not_success", 5: "status_not_success", 6: "signature_wrapping", 7: "signature_wrapping",
    8: "signature_wrapping", 9: "signature_wrapping", 10: "signature_wrapping", 11: "signature_wrapping",
    12: "signature_wrapping", 13: "signature_wrapping", 14: "schema_invalid", 18: "schema_invalid",
    19: "not_yet_valid", 20: "expired", 21: "schema_invalid", 22: "missing_attribute",
    23: "invalid_attribute", 24: "wrong_destination", 25: "wrong_destination", 26: "wrong_audience",
    27: "wrong_issuer", 28: "wrong_issuer", 29: "wrong_issuer", 30: "expired", 31: "wrong_recipient",
    34: "unsigned", 38: "missing_attribute", 39: "missing_attribute", 41: "invalid_attribute",
    42: "bad_signature", 43: "signature_wrapping", 44: "expired", 46: "weak_algorithm", 47: "weak_algorithm",
}


class Refused(Exception):
    """A login refused: `status` is the HTTP answer (400 malformed, 403 invalid), `reason` a log code."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.assertion_id = ""  # filled in once the document parsed, for the logs
        self.issuer = ""


def _malformed(reason: str, detail: str = "") -> Refused:
    return Refused(400, reason, detail)


def _invalid(reason: str, detail: str = "") -> Refused:
    return Refused(403, reason, detail)


@dataclass(frozen=True)
class Config:
    """The SAML service provider's settings, from the function's environment (SAM Parameters)."""

    idp_entity_id: str
    idp_certificate: str
    sp_entity_id: str
    acs_url: str
    username_attribute: str = "username"
    domain_attribute: str = "domain-id"
    session_seconds: int = 43200
    url_expires_seconds: int = 10
    allowed_domains: frozenset[str] = field(default_factory=frozenset)
    clock_skew: int = 60
    max_body_bytes: int = 65536  # the largest form body, and the largest SAMLResponse document within it

    def __post_init__(self) -> None:
        if not ACS_URL_PARTS.fullmatch(self.acs_url):
            raise ValueError(f"ACS_URL must be an http(s) URL, not {self.acs_url!r}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Config:
        """Read the settings; raise ValueError naming the first missing or bad variable."""
        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise ValueError(f"environment variable {name} is not set")
            return value

        def number(name: str, default: int, low: int, high: int) -> int:
            text = env.get(name, "").strip()
            try:
                value = int(text) if text else default
            except ValueError:
                raise ValueError(f"environment variable {name} must be an integer, not {text!r}") from None
            if not low <= value <= high:
                raise ValueError(f"environment variable {name} must be within {low}..{high}, not {value}")
            return value

        domains = env.get("ALLOWED_DOMAIN_IDS", "")
        return cls(
            idp_entity_id=required("IDP_ENTITY_ID"),
            idp_certificate=required("IDP_CERTIFICATE"),
            sp_entity_id=required("SP_ENTITY_ID"),
            acs_url=required("ACS_URL"),
            username_attribute=env.get("USERNAME_ATTRIBUTE", "").strip() or "username",
            domain_attribute=env.get("DOMAIN_ID_ATTRIBUTE", "").strip() or "domain-id",
            # CreatePresignedDomainUrl's limits: session 1800..43200 s, URL 5..300 s
            session_seconds=number("SESSION_DURATION_SECONDS", 43200, 1800, 43200),
            url_expires_seconds=number("URL_EXPIRES_SECONDS", 10, 5, 300),
            allowed_domains=frozenset(d.strip() for d in domains.split(",") if d.strip()),
            clock_skew=number("CLOCK_SKEW_SECONDS", 60, 0, MAX_SKEW),
            max_body_bytes=number("MAX_BODY_BYTES", 65536, 1024, 1048576),
        )


@dataclass(frozen=True)
class Login:
    """What a valid SAMLResponse proves: this user of this Studio domain, until `not_on_or_after`."""

    user: str
    domain: str
    assertion_id: str
    issuer: str
    not_on_or_after: int  # epoch seconds, the latest of the assertion's NotOnOrAfter times


def decode_saml_response(value: str, limit: int) -> bytes:
    """The XML bytes of a SAMLResponse form value (strict base64; IdPs may wrap lines), at most `limit`."""
    try:
        document = base64.b64decode(re.sub(r"[\r\n\t ]", "", value), validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("bad_base64") from None
    if len(document) > limit:
        raise _malformed("body_too_large")
    return document


def _parse(document: bytes) -> etree._Element:
    try:
        text = document.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("not_xml", "not UTF-8") from None
    # Refuse any DTD before the parser sees it: no entity expansion (billion laughs) and no external
    # entities (XXE) can happen when there is no DOCTYPE at all. SAML never needs one.
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise _malformed("xml_doctype")
    # ...and every parser must read the same characters this check read: UTF-8 only. A declared UTF-7 & co.
    # would be honoured by python3-saml's parser, so it is refused; undeclared, ours reads UTF-8 whatever
    # the bytes look like (libxml2 would take an ASCII document in UTF-16 or UTF-32 without a byte-order
    # mark for what its first bytes suggest, and the DOCTYPE this check looked for would pass unseen).
    declaration = re.match(r"\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']+)", text)
    if declaration and declaration.group(1).lower() not in ("utf-8", "utf8"):
        raise _malformed("not_xml", "not UTF-8")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=False, remove_pis=False, encoding="utf-8")
    try:
        return etree.fromstring(document, parser)
    except etree.XMLSyntaxError:
        raise _malformed("not_xml") from None


def _saml_time(text: str | None, what: str) -> int:
    if text is None:
        raise _invalid("schema_invalid", f"{what} missing")
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z", text.strip())
    if not match:
        raise _invalid("schema_invalid", f"{what} is not a UTC xs:dateTime")
    try:
        moment = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
    except ValueError:
        raise _invalid("schema_invalid", f"{what} is not a date") from None
    return calendar.timegm(moment.timetuple())


def _one(parent: etree._Element, path: str) -> etree._Element | None:
    found = parent.findall(path, NS)
    return found[0] if len(found) == 1 else None


def _check_structure(root: etree._Element) -> etree._Element:
    """The shapes signature wrapping and comment injection need, refused outright; returns the assertion."""
    if root.tag != RESPONSE:
        raise _invalid("not_saml_response")
    # Comments and processing instructions are not covered by exclusive c14n, so a comment inside a
    # signed value (alice@corp<!---->.evil) leaves the signature valid while a careless reader sees
    # part of the text. No IdP needs them inside a SAMLResponse.
    if next(root.iter(etree.Comment, etree.ProcessingInstruction), None) is not None:
        raise _invalid("xml_comment")
    ids: set[str] = set()
    for element in root.iter(etree.Element):
        for name in ("ID", "Id", "AssertionID"):
            value = element.get(name)
            if value is not None:
                if value in ids:
                    raise _invalid("duplicate_id", value[:64])
                ids.add(value)
    assertions = list(root.iter(ASSERTION))
    if len(assertions) != 1 or any(True for _ in root.iter(ENCRYPTED_ASSERTION)):
        raise _invalid("assertion_count", str(len(assertions)))
    assertion = assertions[0]
    if assertion.getparent() is not root:
        raise _invalid("signature_wrapping", "the assertion is not a child of the response")
    signatures = list(root.iter(SIGNATURE))
    if not signatures:
        raise _invalid("unsigned")
    for signature in signatures:
        parent = signature.getparent()
        if parent is not root and parent is not assertion:
            raise _invalid("signature_wrapping", "a signature outside the response and assertion")
        references = signature.findall("ds:SignedInfo/ds:Reference", NS)
        if len(references) != 1 or references[0].get("URI") != "#" + (parent.get("ID") or "\0"):
            raise _invalid("signature_wrapping", "a signature that does not sign its own parent")
        for transform in references[0].findall("ds:Transforms/ds:Transform", NS):
            if transform.get("Algorithm") not in ALLOWED_TRANSFORMS:
                raise _invalid("signature_wrapping", "an unexpected signature transform")
        _check_algorithms(signature)
    if len({id(s.getparent()) for s in signatures}) != len(signatures):
        raise _invalid("signature_wrapping", "two signatures on one element")
    return assertion


def _check_algorithms(signature: etree._Element) -> None:
    """Exclusive c14n, an allowed signature method and an allowed digest, each stated exactly once."""
    for path, allowed in (("ds:SignedInfo/ds:CanonicalizationMethod", {EXCLUSIVE_C14N}),
                          ("ds:SignedInfo/ds:SignatureMethod", ALLOWED_SIGNATURE_METHODS),
                          ("ds:SignedInfo/ds:Reference/ds:DigestMethod", ALLOWED_DIGEST_METHODS)):
        found = signature.findall(path, NS)
        if len(found) != 1 or found[0].get("Algorithm") not in allowed:
            what = _printable(found[0].get("Algorithm")) if len(found) == 1 else f"{len(found)} elements"
            raise _invalid("weak_algorithm", f"{path.rsplit(':', 1)[1]} {what}")


def _check_claims(root: etree._Element, assertion: etree._Element, config: Config, now: int) -> int:
    """Status, issuer, destination, audience, recipient and time, exactly; returns the NotOnOrAfter."""
    code = root.find("samlp:Status/samlp:StatusCode", NS)
    if code is None or code.get("Value") != STATUS_SUCCESS:
        raise _invalid("status_not_success")
    issuers = [root.find("saml:Issuer", NS), _one(assertion, "saml:Issuer")]
    if issuers[1] is None or any(i is not None and (i.text or "").strip() != config.idp_entity_id
                                 for i in issuers):
        raise _invalid("wrong_issuer")
    if root.get("Destination") != config.acs_url:
        raise _invalid("wrong_destination")
    conditions = _one(assertion, "saml:Conditions")
    if conditions is None:
        raise _invalid("schema_invalid", "not exactly one Conditions")
    restrictions = conditions.findall("saml:AudienceRestriction", NS)
    # Each AudienceRestriction must admit us (SAML core 2.5.1.4); none at all means "anyone" — refused.
    if not restrictions or any(
        config.sp_entity_id not in [(a.text or "").strip() for a in r.findall("saml:Audience", NS)]
        for r in restrictions
    ):
        raise _invalid("wrong_audience")
    confirmations = [
        c for c in assertion.findall("saml:Subject/saml:SubjectConfirmation", NS)
        if c.get("Method") == CM_BEARER
    ]
    if len(confirmations) != 1:
        raise _invalid("wrong_recipient", "not exactly one bearer SubjectConfirmation")
    data = _one(confirmations[0], "saml:SubjectConfirmationData")
    if data is None or data.get("Recipient") != config.acs_url:
        raise _invalid("wrong_recipient")
    # The clock skew applies to Conditions only. python3-saml, which checks after us, holds the bearer
    # confirmation's times exactly; holding them the same here means an assertion refused for its time is
    # reported as expired or not yet valid, never as the library's misleading wrong_recipient.
    skew = config.clock_skew
    conditions_end = _saml_time(conditions.get("NotOnOrAfter"), "Conditions NotOnOrAfter")
    confirmation_end = _saml_time(data.get("NotOnOrAfter"), "SubjectConfirmationData NotOnOrAfter")
    for start_text, allowance in ((conditions.get("NotBefore"), skew), (data.get("NotBefore"), 0)):
        if start_text is not None and _saml_time(start_text, "NotBefore") > now + allowance:
            raise _invalid("not_yet_valid")
    if conditions_end + skew <= now or confirmation_end <= now:
        raise _invalid("expired")
    return max(conditions_end, confirmation_end)


_schemas = threading.local()


def _compile_schemas_once() -> None:
    """python3-saml compiles its XSD schemas on every validation, about half its time; compile each once.

    The library builds schemas through the `_schema_class` hook; this wraps it with a per-thread cache
    (lxml schema objects are not shared between threads). Validation itself is unchanged.
    """
    from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

    compile_schema = OneLogin_Saml2_XML._schema_class
    if getattr(compile_schema, "cached", False):
        return

    def cached_schema(tree: etree._ElementTree) -> etree.XMLSchema:
        cache = _schemas.__dict__.setdefault("by_url", {})
        url = tree.docinfo.URL
        if url not in cache:
            cache[url] = compile_schema(tree)
        return cache[url]

    cached_schema.cached = True
    OneLogin_Saml2_XML._schema_class = staticmethod(cached_schema)


class Validator:
    """Validates SAMLResponses against one Config; build once per process (settings parse the cert)."""

    def __init__(self, config: Config) -> None:
        from onelogin.saml2.settings import OneLogin_Saml2_Settings

        _compile_schemas_once()

        self.config = config
        self._settings = OneLogin_Saml2_Settings(
            {
                "strict": True,
                "debug": False,
                "sp": {
                    "entityId": config.sp_entity_id,
                    "assertionConsumerService": {
                        "url": config.acs_url,
                        "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                    },
                },
                "idp": {"entityId": config.idp_entity_id, "x509cert": config.idp_certificate},
                # The identity is read here (_attribute_value), never through get_nameid() or get_attributes(),
                # the only places python3-saml reads wantNameId and allowRepeatAttributeName.
                "security": {
                    "wantAssertionsSigned": False,  # either the response or the assertion may be signed
                    "wantMessagesSigned": False,
                    "wantAttributeStatement": True,
                    "rejectDeprecatedAlgorithm": True,
                },
            },
            sp_validation_only=True,
        )
        # python3-saml compares the Destination against "the URL this request arrived at"; that is the
        # configured ACS URL, never the (client-chosen) Host header. (Config made sure it is one.)
        parts = ACS_URL_PARTS.fullmatch(config.acs_url)
        self._request_data = {"http_host": parts.group(2), "script_name": parts.group(3) or ""}
        if parts.group(1) == "https":
            self._request_data["https"] = "on"

    def validate(self, saml_response: str, now: int | None = None) -> Login:
        """Check a SAMLResponse form value; return the Login it proves or raise Refused."""
        config = self.config
        now = int(time.time()) if now is None else now
        document = decode_saml_response(saml_response, config.max_body_bytes)
        root = _parse(document)
        try:
            return self._validate_document(document, root, now)
        except Refused as refused:
            refused.assertion_id, refused.issuer = _identify(root)
            raise

    def _validate_document(self, document: bytes, root: etree._Element, now: int) -> Login:
        from onelogin.saml2.response import OneLogin_Saml2_Response
        from onelogin.saml2.utils import OneLogin_Saml2_ValidationError

        config = self.config
        assertion = _check_structure(root)
        not_on_or_after = _check_claims(root, assertion, config, now)
        try:
            response = OneLogin_Saml2_Response(self._settings, base64.b64encode(document))
            response.is_valid(self._request_data, raise_exceptions=True)
        except OneLogin_Saml2_ValidationError as error:
            raise _invalid(_LIBRARY_REASONS.get(error.code, "invalid_response"), str(error)) from None
        except Exception as error:  # noqa: BLE001 - the library's own parse errors: still bad input
            raise _invalid("invalid_response", type(error).__name__) from None
        # The identity is read here, from the verified assertion, exactly as signed: python3-saml's
        # get_attributes() strips every value and drops blank ones, so "admin\u00a0" would become admin.
        user = _attribute_value(assertion, config.username_attribute, USER_PROFILE)
        domain = _attribute_value(assertion, config.domain_attribute, DOMAIN_ID)
        if config.allowed_domains and domain not in config.allowed_domains:
            raise _invalid("domain_not_allowed", domain)
        return Login(user=user, domain=domain, assertion_id=assertion.get("ID"),
                     issuer=config.idp_entity_id, not_on_or_after=not_on_or_after)


def _attribute_value(assertion: etree._Element, name: str, pattern: re.Pattern) -> str:
    """The one value of attribute `name`, exactly as signed; Refused unless it is exactly a valid name."""
    attributes = [a for a in assertion.iterfind("saml:AttributeStatement/saml:Attribute", NS)
                  if a.get("Name") == name]
    if not attributes:
        raise _invalid("missing_attribute", name)
    values = [v for a in attributes for v in a.findall("saml:AttributeValue", NS)]
    if not values:
        raise _invalid("missing_attribute", name)
    # Blank values count: ["", "admin"] is two values, not one.
    if len(attributes) != 1 or len(values) != 1:
        raise _invalid("invalid_attribute", f"{name}: {len(values)} values")
    element = values[0]
    if len(element) or element.get(f"{{{XSI}}}nil") is not None:
        raise _invalid("invalid_attribute", f"{name}: not a plain string")
    value = element.text or ""
    problem = identity_problem(value, pattern)
    if problem:
        raise _invalid("invalid_attribute", f"{name}: {problem}")
    return value


def identity_problem(value: str, pattern: re.Pattern) -> str:
    """Why `value` is not exactly a name `pattern` admits ('' when it is), checked the strict way round."""
    if not value:
        return "blank"
    if value != value.strip() or value != value.strip(_INVISIBLE_EDGES):
        return "surrounding whitespace"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") for c in value):
        return "a control or format character"
    # Names are compared as NFC (what a user typed, however the IdP composed it, is one name): a value
    # that is not already NFC would compare equal to a different sequence of code points — refused.
    if unicodedata.normalize("NFC", value) != value:
        return "not NFC-normalised"
    if not pattern.fullmatch(value):
        return "not a valid name"
    return ""


def _identify(root: etree._Element) -> tuple[str, str]:
    """The (assertion id, issuer) a refused document claims, made safe for a log line."""
    assertion = root.find("saml:Assertion", NS)
    issuer = root.find("saml:Issuer", NS)
    if issuer is None and assertion is not None:
        issuer = assertion.find("saml:Issuer", NS)
    return (_printable(assertion.get("ID") if assertion is not None else ""),
            _printable(issuer.text if issuer is not None else ""))


def _printable(text: str | None) -> str:
    return re.sub(r"[^\x21-\x7e]", "?", text or "")[:128]
