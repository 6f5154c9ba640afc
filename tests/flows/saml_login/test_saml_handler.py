"""The ACS handler: a valid response signs the user in; every attack is refused with its reason."""
from __future__ import annotations

import base64
import datetime as dt
import json
import time
import unicodedata
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from saml_login_cases import ACS_URL, DOMAIN, IDP_ENTITY_ID, SP_ENTITY_ID, TABLE, USER

from engine import idp

NS = {"samlp": idp.NS_SAMLP, "saml": idp.NS_SAML, "ds": idp.NS_DS}


def _studio_target(location: str) -> tuple[str, str]:
    url = urllib.parse.urlparse(location)
    return url.path, urllib.parse.parse_qs(url.query)["token"][0]


@pytest.mark.parametrize("sign", ["assertion", "response", "both"])
def test_valid_response_redirects_to_studio_for_that_user_and_domain(post, signed, local_aws, sign):
    posted = post(signed(sign=sign))
    assert posted.status == 302, posted.log
    path, token = _studio_target(posted.answer["headers"]["Location"])
    assert path == f"/_studio/{DOMAIN}/auth" and token
    grant = local_aws.store["sagemaker_studio"].grants[token]
    assert (grant.domain, grant.user) == (DOMAIN, USER)
    assert posted.answer["headers"]["Cache-Control"] == "no-store"
    assert posted.log["outcome"] == "signed_in" and posted.log["user"] == USER


def test_assertion_id_is_recorded_with_a_ttl_at_not_on_or_after(post, signed, local_aws):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    document = signed(now=now, lifetime=240, assertion_id="_replay-me")
    assert post(document).status == 302
    items = local_aws.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert len(items) == 1
    assert int(items[0]["expires_at"]["N"]) == int(now.timestamp()) + 240 + 60  # + the clock skew


def test_a_wrapped_base64_body_from_an_api_gateway_binary_event_is_accepted(post, signed):
    form = idp.form_body(signed())
    posted = post(body=base64.b64encode(form.encode()).decode(), base64_encoded=True)
    assert posted.status == 302


def test_logs_never_carry_the_response_or_the_url(post, signed, caplog):
    document = signed()
    value = idp.encode(document)
    posted = post(document)
    replayed = post(document)
    assert posted.status == 302 and replayed.status == 403
    token = _studio_target(posted.answer["headers"]["Location"])[1]
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert value[:40] not in text and token not in text and "Assertion" not in text


# --- the attack battery ---------------------------------------------------------------------------------


def _edit(document: bytes, change) -> bytes:
    root = etree.fromstring(document)
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _set_attribute_value(name: str, value: str):
    def change(root):
        for attribute in root.iter(f"{{{idp.NS_SAML}}}Attribute"):
            if attribute.get("Name") == name:
                attribute[0].text = value
    return change


def _second_assertion(root):
    assertion = root.find("saml:Assertion", NS)
    extra = etree.fromstring(etree.tostring(assertion))
    extra.set("ID", idp.new_id())
    for signature in extra.findall("ds:Signature", NS):
        extra.remove(signature)
    root.append(extra)


def _move_response_signature_into_assertion(root):
    signature = root.find("ds:Signature", NS)
    root.find("saml:Assertion/saml:Issuer", NS).addnext(signature)


def _decoy_with_the_assertion_id(root):
    assertion = root.find("saml:Assertion", NS)
    extensions = etree.Element(f"{{{idp.NS_SAMLP}}}Extensions")
    decoy = etree.SubElement(extensions, f"{{{idp.NS_SAML}}}Evidence")
    decoy.set("ID", assertion.get("ID"))
    root.find("saml:Issuer", NS).addnext(extensions)


def _set_algorithm(element: str, algorithm: str):
    def change(root):
        for found in root.iter(f"{{{idp.NS_DS}}}{element}"):
            found.set("Algorithm", algorithm)
    return change


def _nest_element_in(name: str):
    """admin, split by an empty element: signed as is, its text content reads 'admin'."""
    def change(root):
        for attribute in root.iter(f"{{{idp.NS_SAML}}}Attribute"):
            if attribute.get("Name") == name:
                value = attribute[0]
                del value.attrib[f"{{{idp.NS_XSI}}}type"]  # xs:anyType: the schema admits elements
                value.text = "ad"
                etree.SubElement(value, f"{{{idp.NS_SAML}}}Extra").tail = "min"
    return change


def _repeat_attribute(name: str, value: str):
    def change(root):
        for attribute in list(root.iter(f"{{{idp.NS_SAML}}}Attribute")):
            if attribute.get("Name") == name:
                again = etree.fromstring(etree.tostring(attribute))
                again[0].text = value
                attribute.addnext(again)
    return change


def _edit_unsigned_then_sign(signed, key, change) -> bytes:
    root = etree.fromstring(signed(sign="none"))
    change(root)
    idp.sign_element(root.find("saml:Assertion", NS), key)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&lol3;</samlp:Response>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&xxe;</samlp:Response>"""


def _shown(value: str) -> str:
    """`value` for a test id: its characters as code points unless it is plain letters and digits."""
    return value if value.isascii() and value.isalnum() else "".join(f"U+{ord(c):04X}" for c in value) or "empty"


def _declared_without_encoding(document: bytes) -> str:
    return '<?xml version="1.0"?>' + document.decode().split("?>", 1)[1]


def _minutes_ago(minutes: int) -> dt.datetime:
    return dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)


def _xsw(variant: int):
    def build(s, k, o):
        document = s(sign="response" if variant <= 2 else "assertion")
        return idp.signature_wrapping(document, variant, "admin", "d-evil000")
    return build


# (case id, how to build the document from (signed, idp_key, other_key), expected status, reason)
ATTACKS = [
    ("unsigned", lambda s, k, o: s(sign="none"), 403, "unsigned"),
    ("signed with another key", lambda s, k, o: s(key=o), 403, "bad_signature"),
    ("response signed with another key", lambda s, k, o: s(key=o, sign="response"), 403, "bad_signature"),
    ("username tampered after signing",
     lambda s, k, o: _edit(s(), _set_attribute_value("username", "admin")), 403, "bad_signature"),
    ("domain tampered after signing",
     lambda s, k, o: _edit(s(), _set_attribute_value("domain-id", "d-other0000")), 403, "bad_signature"),
    ("NameID tampered after signing",
     lambda s, k, o: s().replace(f">{USER}</saml:NameID>".encode(), b">admin</saml:NameID>"),
     403, "bad_signature"),
    # XSW1-2 copy the signed Response, so its assertion's ID appears twice; XSW3-8 need a second assertion.
    *[(f"XSW{v}", _xsw(v), 403, "duplicate_id" if v <= 2 else "assertion_count") for v in idp.XSW_VARIANTS],
    ("response signature moved onto the assertion",
     lambda s, k, o: _edit(s(sign="response"), _move_response_signature_into_assertion), 403,
     "signature_wrapping"),
    ("decoy element carrying the assertion's ID",
     lambda s, k, o: _edit(s(), _decoy_with_the_assertion_id), 403, "duplicate_id"),
    ("comment injection in the username",
     lambda s, k, o: s(user="alice-evil").replace(b">alice-evil</saml:AttributeValue>",
                                                  b">alice<!---->-evil</saml:AttributeValue>"), 403, "xml_comment"),
    ("comment injection in the NameID",
     lambda s, k, o: s(name_id="alice.evil").replace(b">alice.evil<", b">alice<!---->.evil<"), 403,
     "xml_comment"),
    ("expired", lambda s, k, o: s(now=_minutes_ago(30)), 403, "expired"),
    ("expired just beyond the skew",
     lambda s, k, o: s(now=_minutes_ago(0) - dt.timedelta(seconds=200), lifetime=120), 403, "expired"),
    ("not yet valid", lambda s, k, o: s(now=_minutes_ago(-10), not_before_offset=0), 403, "not_yet_valid"),
    ("wrong audience", lambda s, k, o: s(audience="https://other.example.com/saml"), 403, "wrong_audience"),
    ("no audience at all", lambda s, k, o: s(audience=idp.OMIT), 403, "wrong_audience"),
    ("wrong destination", lambda s, k, o: s(destination="https://evil.example.com/saml"), 403,
     "wrong_destination"),
    ("destination extending the ACS URL", lambda s, k, o: s(destination=ACS_URL + "-evil"), 403,
     "wrong_destination"),
    ("no destination", lambda s, k, o: s(destination=idp.OMIT), 403, "wrong_destination"),
    ("wrong recipient", lambda s, k, o: s(recipient="https://evil.example.com/saml"), 403, "wrong_recipient"),
    ("recipient merely containing the ACS URL",
     lambda s, k, o: s(recipient="https://evil.example.com/?" + ACS_URL), 403, "wrong_recipient"),
    ("wrong issuer", lambda s, k, o: s(issuer="https://evil-idp.example.com"), 403, "wrong_issuer"),
    ("status not Success", lambda s, k, o: s(status="urn:oasis:names:tc:SAML:2.0:status:Requester"), 403,
     "status_not_success"),
    ("two assertions", lambda s, k, o: _edit(s(sign="response"), _second_assertion), 403, "assertion_count"),
    ("element the SAML schema does not allow",
     lambda s, k, o: s().replace(b"</samlp:Response>", b"<saml:Bogus/></samlp:Response>"), 403, "schema_invalid"),
    ("SHA-1 signature", lambda s, k, o: s(digest="sha1"), 403, "weak_algorithm"),
    ("SHA-1 digest under an RSA-SHA256 signature", lambda s, k, o: s(digest="sha1", signature_hash="sha256"),
     403, "weak_algorithm"),
    ("RSA-SHA1 signature over a SHA-256 digest", lambda s, k, o: s(digest="sha256", signature_hash="sha1"),
     403, "weak_algorithm"),
    ("MD5 digest", lambda s, k, o: s(digest="md5", signature_hash="sha256"), 403, "weak_algorithm"),
    ("RSA-MD5 signature method", lambda s, k, o: s(digest="sha256", signature_hash="md5"), 403,
     "weak_algorithm"),
    ("MD5 response signature", lambda s, k, o: s(sign="response", digest="md5"), 403, "weak_algorithm"),
    ("inclusive c14n", lambda s, k, o: _edit(s(), _set_algorithm(
        "CanonicalizationMethod", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315")), 403, "weak_algorithm"),
    ("exclusive c14n with comments", lambda s, k, o: _edit(s(), _set_algorithm(
        "CanonicalizationMethod", "http://www.w3.org/2001/10/xml-exc-c14n#WithComments")), 403,
     "weak_algorithm"),
    ("DSA-SHA1 signature method", lambda s, k, o: _edit(s(), _set_algorithm(
        "SignatureMethod", "http://www.w3.org/2000/09/xmldsig#dsa-sha1")), 403, "weak_algorithm"),
    ("an AudienceRestriction that leaves this SP out, beside one that names it",
     lambda s, k, o: s(extra_audience_restrictions=[["https://other.example.com/saml"]]), 403,
     "wrong_audience"),
    ("missing username attribute", lambda s, k, o: s(attributes={"domain-id": [DOMAIN]}), 403,
     "missing_attribute"),
    ("missing domain attribute", lambda s, k, o: s(attributes={"username": [USER]}), 403, "missing_attribute"),
    ("two usernames", lambda s, k, o: s(attributes={"username": [USER, "admin"], "domain-id": [DOMAIN]}), 403,
     "invalid_attribute"),
    # python3-saml drops blank values; a blank is a value all the same, so these carry two.
    # Test ids stay printable ASCII without a backslash: pytest escapes those again each time it collects in one
    # process, and mutmut, which re-runs a mutant's tests by id in the process that collected them, no longer
    # finds them (every mutant so tested then counted as killed).
    *[(f"username with a blank extra value {[_shown(value) for value in values]}",
       lambda s, k, o, values=values: s(attributes={"username": values, "domain-id": [DOMAIN]}), 403,
       "invalid_attribute") for values in (["", USER], [USER, ""], [" ", USER], [USER, "\u00a0"])],
    ("domain with a blank extra value",
     lambda s, k, o: s(attributes={"username": [USER], "domain-id": [DOMAIN, ""]}), 403, "invalid_attribute"),
    ("a blank username", lambda s, k, o: s(user=""), 403, "invalid_attribute"),
    ("the username attribute twice, one value each",
     lambda s, k, o: _edit_unsigned_then_sign(s, k, _repeat_attribute("username", "admin")), 403,
     "invalid_attribute"),
    ("a username with an element inside",
     lambda s, k, o: _edit_unsigned_then_sign(s, k, _nest_element_in("username")), 403, "invalid_attribute"),
    ("username that is not a profile name", lambda s, k, o: s(user="../admin"), 403, "invalid_attribute"),
    ("billion laughs", lambda s, k, o: BILLION_LAUGHS, 400, "xml_doctype"),
    ("external entity", lambda s, k, o: XXE, 400, "xml_doctype"),
    ("not XML", lambda s, k, o: b"this is not <xml", 400, "not_xml"),
    ("not UTF-8", lambda s, k, o: s().decode().encode("utf-16"), 400, "not_xml"),
    # ASCII text in UTF-16 or UTF-32 without a byte-order mark is valid UTF-8 bytes; libxml2 alone would read
    # it as what its first bytes suggest, past the DOCTYPE check, which reads UTF-8.
    *[(f"signed, then re-encoded as {encoding} without a byte-order mark",
       lambda s, k, o, encoding=encoding: _declared_without_encoding(s()).encode(encoding), 400, "not_xml")
      for encoding in ("utf-16-le", "utf-16-be", "utf-32-le")],
    ("a DOCTYPE in UTF-32 without a byte-order mark",
     lambda s, k, o: _declared_without_encoding(s()).replace("?>", '?><!DOCTYPE r [<!ENTITY x "y">]>', 1)
     .encode("utf-32-le"), 400,
     "not_xml"),
    ("declared UTF-7 to hide a DOCTYPE",
     lambda s, k, o: b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE r+AFs-+AF0-+AD4-<r/>', 400, "not_xml"),
    ("an XML document that is not a Response", lambda s, k, o: b"<html><body/></html>", 403,
     "not_saml_response"),
]


@pytest.mark.parametrize("name, build, status, reason", ATTACKS, ids=[a[0] for a in ATTACKS])
def test_attack_is_refused_with_its_reason(post, signed, idp_key, other_key, name, build, status, reason):
    posted = post(build(signed, idp_key, other_key))
    assert (posted.status, posted.reason) == (status, reason)
    assert posted.answer["body"] == ("Sign-in refused.\n" if status == 403 else "Bad request.\n")
    assert "Location" not in posted.answer["headers"]


def test_replayed_assertion_is_refused(post, signed):
    document = signed()
    assert post(document).status == 302
    again = post(document)
    assert (again.status, again.reason) == (403, "replay")
    assert again.log["assertion_id"].startswith("_")


def test_domain_outside_the_allow_list_is_refused(post, signed, monkeypatch):
    monkeypatch.setenv("ALLOWED_DOMAIN_IDS", "d-other0000, d-third0000")
    posted = post(signed())
    assert (posted.status, posted.reason) == (403, "domain_not_allowed")
    monkeypatch.setenv("ALLOWED_DOMAIN_IDS", f"d-other0000,{DOMAIN}")
    assert post(signed()).status == 302


def test_clock_skew_admits_an_idp_clock_slightly_ahead(post, signed, monkeypatch):
    ahead = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=40)
    assert post(signed(now=ahead, not_before_offset=0)).status == 302
    monkeypatch.setenv("CLOCK_SKEW_SECONDS", "10")
    posted = post(signed(now=ahead, not_before_offset=0))
    assert (posted.status, posted.reason) == (403, "not_yet_valid")


@pytest.mark.parametrize(
    "body, content_type, reason",
    [
        (None, "application/x-www-form-urlencoded", "not_form_encoded"),
        ('{"SAMLResponse": "x"}', "application/json", "not_form_encoded"),
        ("RelayState=x", "application/x-www-form-urlencoded", "not_form_encoded"),
        ("SAMLResponse=a&SAMLResponse=b", "application/x-www-form-urlencoded", "not_form_encoded"),
        ("SAMLResponse", "application/x-www-form-urlencoded", "not_form_encoded"),
        ("SAMLResponse=%%%", "application/x-www-form-urlencoded", "bad_base64"),
        ("SAMLResponse=not*base64!", "application/x-www-form-urlencoded", "bad_base64"),
        ("SAMLResponse=" + "A" * 70000, "application/x-www-form-urlencoded", "body_too_large"),
    ],
)
def test_malformed_request_is_a_400(post, body, content_type, reason):
    posted = post(body=body or "", content_type=content_type)
    assert (posted.status, posted.reason) == (400, reason)


def test_oversize_document_is_refused_before_parsing(post, signed, monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", "4096")
    posted = post(signed(attributes={"username": [USER], "domain-id": [DOMAIN], "padding": ["x" * 5000]}))
    assert (posted.status, posted.reason) == (400, "body_too_large")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: "SAMLResponse=" + urllib.parse.quote(base64.b64encode(b))),
    st.text(max_size=200).map(lambda t: idp.form_body(t.encode())),
))
def test_no_input_makes_a_server_error(post, body):
    assert post(body=body).status in (400, 403)


def test_python3_saml_alone_accepts_what_this_handler_refuses(signed, idp_key):
    """Why the handler checks destination, recipient and audience itself: the library is lenient there."""
    from onelogin.saml2.response import OneLogin_Saml2_Response
    from onelogin.saml2.settings import OneLogin_Saml2_Settings


    settings_ = OneLogin_Saml2_Settings({
        "strict": True,
        "sp": {"entityId": SP_ENTITY_ID, "assertionConsumerService": {"url": ACS_URL}},
        "idp": {"entityId": IDP_ENTITY_ID, "x509cert": idp_key.cert_body},
    }, sp_validation_only=True)
    url = urllib.parse.urlparse(ACS_URL)
    request = {"https": "on", "http_host": url.netloc, "script_name": url.path}
    for lenient in ({"destination": ACS_URL + "-evil"}, {"recipient": "https://evil.example.com/?" + ACS_URL},
                    {"audience": idp.OMIT}):
        response = OneLogin_Saml2_Response(settings_, idp.encode(signed(**lenient)))
        assert response.is_valid(request), (lenient, response.get_error())


@pytest.mark.parametrize("session, expires", [(3600, 30), (1800, 300)])
def test_configured_session_and_url_lifetimes_reach_the_presign_call(post, signed, local_aws, monkeypatch,
                                                                      session, expires):
    monkeypatch.setenv("SESSION_DURATION_SECONDS", str(session))
    monkeypatch.setenv("URL_EXPIRES_SECONDS", str(expires))
    before = time.time()
    posted = post(signed())
    after = time.time()
    grant = local_aws.store["sagemaker_studio"].grants[_studio_target(posted.answer["headers"]["Location"])[1]]
    assert grant.session_seconds == session
    assert before + expires <= grant.expires_at <= after + expires  # the URL's ExpiresInSeconds
    assert posted.log["session_seconds"] == session


def test_custom_attribute_names(post, signed, monkeypatch):
    monkeypatch.setenv("USERNAME_ATTRIBUTE", "https://aws.amazon.com/SAML/Attributes/RoleSessionName")
    monkeypatch.setenv("DOMAIN_ID_ATTRIBUTE", "studio-domain")
    assert post(signed()).reason == "missing_attribute"
    renamed = signed(attributes={"https://aws.amazon.com/SAML/Attributes/RoleSessionName": [USER],
                                 "studio-domain": [DOMAIN]})
    assert post(renamed).status == 302


@pytest.mark.parametrize("name, value", [("IDP_CERTIFICATE", ""), ("SESSION_DURATION_SECONDS", "60"),
                                         ("CLOCK_SKEW_SECONDS", "soon"), ("REPLAY_IDS_TABLE", ""),
                                         ("ACS_URL", "ftp://sso.example.com/saml"), ("ACS_URL", "sso.example.com")])
def test_a_misconfigured_deployment_says_so_in_the_logs(post, signed, monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    posted = post(signed())
    assert posted.status == 502
    assert posted.log["outcome"] == "misconfigured" and name in posted.log["error"]


# --- identity exactly as signed -------------------------------------------------------------------------


def _xml_char(c: str) -> bool:
    """Whether XML 1.0 can carry `c` at all (the others can never reach a signed document)."""
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


# Every character Unicode (and str.strip) treats as white space, in each of its classes (Cc, Zs, Zl, Zp),
# and the invisible format characters strip() keeps — as far as XML can carry them.
PADDING = sorted({c for c in map(chr, range(0x3000 + 1)) if c.isspace() and _xml_char(c)}
                 | {"\u180e", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"})


def test_the_padding_covers_every_whitespace_class():
    classes = {unicodedata.category(c) for c in PADDING}
    assert {"Cc", "Zs", "Zl", "Zp", "Cf"} <= classes
    assert all(c in PADDING for c in " \t\n\r\u0085\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000")


@pytest.fixture(scope="module")
def validator(idp_key):
    import saml_login_validation as v

    return v.Validator(v.Config(idp_entity_id=IDP_ENTITY_ID, idp_certificate=idp_key.cert_body,
                                sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL))


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("pad", PADDING, ids=[f"U+{ord(c):04X}" for c in PADDING])
def test_a_padded_username_is_refused_not_stripped(validator, make_options, idp_key, pad, where):
    """python3-saml strips values: 'admin\u00a0' must not sign anybody in as admin."""
    import saml_login_validation as v

    user = pad + "admin" if where == "before" else "admin" + pad
    document = idp.make_response(make_options(user=user), idp_key)
    signed_values = [v.text for v in etree.fromstring(document).iter(f"{{{idp.NS_SAML}}}AttributeValue")]
    assert user in signed_values  # the IdP signed the padded value itself
    with pytest.raises(v.Refused) as refused:
        validator.validate(idp.encode(document))
    assert refused.value.reason == "invalid_attribute"


@pytest.mark.parametrize("domain", [" " + DOMAIN, DOMAIN + "\n", DOMAIN + "\u2028", "\u200b" + DOMAIN])
def test_a_padded_domain_is_refused(post, signed, domain):
    assert post(signed(domain=domain)).reason == "invalid_attribute"


@pytest.mark.parametrize("value, problem", [
    ("admin ", "surrounding whitespace"), ("\u200badmin", "surrounding whitespace"),
    ("ad\u200bmin", "a control or format character"), ("ad\x7fmin", "a control or format character"),
    *[(f"ad{c}min", "a control or format character")  # a surrogate, private use, unassigned, line and paragraph
      for c in ("\ud800", "\ue000", "\u0378", "\u2028", "\u2029")],
    ("Jose\u0301", "not NFC-normalised"), ("Jos\u00e9", "not a valid name"), ("ad min", "not a valid name"),
    ("", "blank"), ("admin", ""), ("data-scientist-1", ""),
])
def test_why_a_value_is_not_exactly_a_name(value, problem):
    import saml_login_validation as v

    assert v.identity_problem(value, v.USER_PROFILE) == problem


def test_the_accepted_identity_is_the_signed_text_itself(post, signed, local_aws):
    posted = post(signed(user="Data-Scientist-7"))
    assert posted.status == 302 and posted.log["user"] == "Data-Scientist-7"


# --- strong algorithms only -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ec_key() -> idp.SigningKey:
    return idp.generate_key("ECDSA test IdP", kind="ec")


@pytest.mark.parametrize("sign, digest", [("assertion", "sha256"), ("response", "sha256"), ("both", "sha384"),
                                          ("assertion", "sha512")])
def test_an_ecdsa_signature_is_accepted(post, signed, ec_key, monkeypatch, sign, digest):
    monkeypatch.setenv("IDP_CERTIFICATE", ec_key.cert_body)
    document = signed(key=ec_key, sign=sign, digest=digest)
    assert f"ecdsa-{digest}".encode() in document
    posted = post(document)
    assert posted.status == 302, posted.log


def test_ecdsa_sha1_is_refused(post, signed, ec_key, monkeypatch):
    monkeypatch.setenv("IDP_CERTIFICATE", ec_key.cert_body)
    posted = post(signed(key=ec_key, digest="sha256", signature_hash="sha1"))
    assert (posted.status, posted.reason) == (403, "weak_algorithm")


def test_every_signature_in_the_document_is_held_to_the_allow_list(post, signed, idp_key):
    """A strong assertion signature does not excuse a weak response signature around it."""
    root = etree.fromstring(signed(sign="assertion"))
    idp.sign_element(root, idp_key, digest="md5")
    posted = post(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    assert (posted.status, posted.reason) == (403, "weak_algorithm")


def test_several_audience_restrictions_each_naming_this_sp_are_accepted(post, signed):
    """SAML core 2.5.1.4: the SP must be named in every AudienceRestriction, and may share each."""
    document = signed(extra_audience_restrictions=[[SP_ENTITY_ID, "https://other.example.com/saml"],
                                                   ["https://third.example.com/saml", SP_ENTITY_ID]])
    assert post(document).status == 302


# --- the audit trail ------------------------------------------------------------------------------------


def test_every_accepted_sign_in_is_one_json_audit_line(post, signed, caplog):
    document = signed(assertion_id="_audit-me")
    posted = post(document, source_ip="10.0.7.9")
    assert posted.status == 302
    lines = [r for r in caplog.records if r.name == "saml_login"]
    assert len(lines) == 1 and lines[0].levelname == "INFO"
    assert json.loads(lines[0].getMessage()) == {
        "event": "saml_login", "outcome": "signed_in", "status": 302, "assertion_id": "_audit-me",
        "issuer": IDP_ENTITY_ID, "user": USER, "domain": DOMAIN, "source_ip": "10.0.7.9",
        "session_seconds": 43200}
    text = lines[0].getMessage()
    assert idp.encode(document)[:40] not in text and "http" not in text.replace(IDP_ENTITY_ID, "")


# --- the assertion's times, read exactly -----------------------------------------------------------------


def _validate_with_times(validator, make_options, idp_key, *, now, conditions=None, data=None):
    """A response whose Conditions / SubjectConfirmationData carry the given time attributes (None: drop)."""
    import saml_login_validation as v

    root = idp.build_response(make_options(now=now))
    for path, times in (("saml:Assertion/saml:Conditions", conditions),
                        ("saml:Assertion/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", data)):
        element = root.find(path, NS)
        for name, value in (times or {}).items():
            if value is None:
                element.attrib.pop(name, None)
            else:
                element.set(name, value)
    idp.sign_element(root.find("saml:Assertion", NS), idp_key)
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    try:
        return validator.validate(idp.encode(document), now=int(now.timestamp()))
    except v.Refused as refused:
        return refused


def _at(seconds: int, form: str = "%Y-%m-%dT%H:%M:%SZ"):
    """A time attribute `seconds` after the test's now, written in `form`."""
    return lambda now: (now + dt.timedelta(seconds=seconds)).strftime(form)


@pytest.mark.parametrize("conditions, data, reason, detail", [
    ({"NotOnOrAfter": _at(300, "%Y-%m-%dT%H:%M:%S.250Z")}, None, None, None),   # fractions of a second
    ({"NotOnOrAfter": _at(300, "%Y-%m-%dT%H:%M:%S+00:00")}, None, "schema_invalid",
     "Conditions NotOnOrAfter is not a UTC xs:dateTime"),
    ({"NotOnOrAfter": _at(300, "%Y-02-30T%H:%M:%SZ")}, None, "schema_invalid",
     "Conditions NotOnOrAfter is not a date"),
    ({"NotOnOrAfter": None}, None, "schema_invalid", "Conditions NotOnOrAfter missing"),
    (None, {"NotOnOrAfter": None}, "schema_invalid", "SubjectConfirmationData NotOnOrAfter missing"),
    # The earliest end counts: a confirmation that ran out ends the assertion. Its times are held exactly
    # (python3-saml allows them no skew): refused for its time, never as the library's wrong_recipient.
    (None, {"NotOnOrAfter": _at(-61)}, "expired", ""),
    (None, {"NotOnOrAfter": _at(-1)}, "expired", ""),
    (None, {"NotBefore": _at(61)}, "not_yet_valid", ""),
    (None, {"NotBefore": _at(2)}, "not_yet_valid", ""),
    ({"NotBefore": _at(59)}, None, None, None),                                   # within the skew
    ({"NotOnOrAfter": _at(-59)}, {"NotOnOrAfter": _at(300)}, None, None),         # within the skew
    ({"NotBefore": _at(61)}, None, "not_yet_valid", ""),
    ({"NotBefore": _at(60)}, None, None, None),                                   # exactly the skew
    ({"NotOnOrAfter": _at(-60)}, {"NotOnOrAfter": _at(300)}, "expired", ""),      # ended the skew ago
    (None, {"NotBefore": _at(0)}, None, None),                                    # starts now
    (None, {"NotBefore": _at(1)}, "not_yet_valid", ""),
    (None, {"NotOnOrAfter": _at(0)}, "expired", ""),                              # ends now
    ({"NotBefore": lambda now: "12:00"}, None, "schema_invalid", "NotBefore is not a UTC xs:dateTime"),
])
def test_assertion_times_are_read_exactly_with_the_clock_skew(validator, make_options, idp_key, conditions, data,
                                                              reason, detail):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    written = [{k: (v(now) if v else None) for k, v in (times or {}).items()} for times in (conditions, data)]
    result = _validate_with_times(validator, make_options, idp_key, now=now, conditions=written[0], data=written[1])
    if reason is None:
        assert result.user == USER
    else:
        assert (result.status, result.reason, result.detail) == (403, reason, detail)


def test_the_login_lasts_until_the_latest_end_of_the_assertion(validator, make_options, idp_key):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    login = _validate_with_times(validator, make_options, idp_key, now=now,
                                 data={"NotOnOrAfter": _at(120)(now)})
    assert login.not_on_or_after == int(now.timestamp()) + 300  # Conditions end at now + 300 s
