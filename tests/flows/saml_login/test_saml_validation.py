"""The validator below the handler: its settings, the reason and detail of each refusal, what a refused
document is logged as, and how it wraps python3-saml. (test_saml_handler.py holds the attack battery.)"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from lxml import etree
from saml_login_cases import ACS_URL, IDP_ENTITY_ID, SP_ENTITY_ID, USER

from engine import idp

NS = {"samlp": idp.NS_SAMLP, "saml": idp.NS_SAML, "ds": idp.NS_DS}
REQUIRED = {"IDP_ENTITY_ID": IDP_ENTITY_ID, "IDP_CERTIFICATE": "MIICertificateBody", "SP_ENTITY_ID": SP_ENTITY_ID,
            "ACS_URL": ACS_URL}


@pytest.fixture(scope="module")
def v():
    import saml_login_validation

    return saml_login_validation


def _validator(v, idp_key, **settings):
    return v.Validator(v.Config(idp_entity_id=IDP_ENTITY_ID, idp_certificate=idp_key.cert_body,
                                sp_entity_id=SP_ENTITY_ID, acs_url=ACS_URL, **settings))


def _outcome(validator, v, value: str):
    """The Login, or the refusal as (status, reason, detail, message)."""
    try:
        return validator.validate(value)
    except v.Refused as refused:
        return refused.status, refused.reason, refused.detail, str(refused)


def _serialised(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- the settings -------------------------------------------------------------------------------------------


def test_a_deployment_that_sets_only_the_required_settings_gets_the_documented_defaults(v):
    assert v.Config.from_env(REQUIRED) == v.Config(
        idp_entity_id=IDP_ENTITY_ID, idp_certificate="MIICertificateBody", sp_entity_id=SP_ENTITY_ID,
        acs_url=ACS_URL, username_attribute="username", domain_attribute="domain-id", session_seconds=43200,
        url_expires_seconds=10, allowed_domains=frozenset(), clock_skew=60, max_body_bytes=65536)


def test_every_setting_is_read_from_its_own_variable_without_surrounding_blanks(v):
    env = {**{name: f" {value}\n" for name, value in REQUIRED.items()},
           "USERNAME_ATTRIBUTE": " uid ", "DOMAIN_ID_ATTRIBUTE": "\tstudio-domain\n",
           "SESSION_DURATION_SECONDS": " 3600 ", "URL_EXPIRES_SECONDS": "30",
           "ALLOWED_DOMAIN_IDS": " d-one1, ,d-two2 ,", "CLOCK_SKEW_SECONDS": "0", "MAX_BODY_BYTES": "2048"}
    assert v.Config.from_env(env) == v.Config(
        idp_entity_id=IDP_ENTITY_ID, idp_certificate="MIICertificateBody", sp_entity_id=SP_ENTITY_ID,
        acs_url=ACS_URL, username_attribute="uid", domain_attribute="studio-domain", session_seconds=3600,
        url_expires_seconds=30, allowed_domains=frozenset({"d-one1", "d-two2"}), clock_skew=0, max_body_bytes=2048)


@pytest.mark.parametrize("name", list(REQUIRED))
@pytest.mark.parametrize("value", [None, " \t"], ids=["unset", "blank"])
def test_a_missing_required_setting_is_named(v, name, value):
    env = {key: text for key, text in REQUIRED.items() if key != name}
    if value is not None:
        env[name] = value
    with pytest.raises(ValueError) as error:
        v.Config.from_env(env)
    assert str(error.value) == f"environment variable {name} is not set"


@pytest.mark.parametrize("name, field, low, high", [
    ("SESSION_DURATION_SECONDS", "session_seconds", 1800, 43200),   # CreatePresignedDomainUrl's limits
    ("URL_EXPIRES_SECONDS", "url_expires_seconds", 5, 300),
    ("CLOCK_SKEW_SECONDS", "clock_skew", 0, 300),                    # python3-saml's own allowance at most
    ("MAX_BODY_BYTES", "max_body_bytes", 1024, 1048576),
])
def test_a_number_setting_is_held_to_its_limits_and_the_error_says_which(v, name, field, low, high):
    for within in (low, high):
        assert getattr(v.Config.from_env({**REQUIRED, name: str(within)}), field) == within
    for outside in (low - 1, high + 1):
        with pytest.raises(ValueError) as error:
            v.Config.from_env({**REQUIRED, name: str(outside)})
        assert str(error.value) == f"environment variable {name} must be within {low}..{high}, not {outside}"
    with pytest.raises(ValueError) as error:
        v.Config.from_env({**REQUIRED, name: "soon"})
    assert str(error.value) == f"environment variable {name} must be an integer, not 'soon'"


@pytest.mark.parametrize("acs_url", ["ftp://sso.example.com/saml", "sso.example.com/saml", "https:///saml",
                                     "https://sso.example.com/saml\n"])
def test_an_acs_url_that_is_not_an_http_url_is_refused_with_the_settings(v, acs_url):
    with pytest.raises(ValueError) as error:
        v.Config(idp_entity_id=IDP_ENTITY_ID, idp_certificate="MIICertificateBody", sp_entity_id=SP_ENTITY_ID,
                 acs_url=acs_url)
    assert str(error.value) == f"ACS_URL must be an http(s) URL, not {acs_url!r}"


@pytest.mark.parametrize("acs_url", ["http://127.0.0.1:3000/saml", "https://sso.example.com:8443/v1/saml",
                                     "https://sso.example.com"])
def test_a_response_to_an_http_acs_url_a_port_or_no_path_is_accepted(v, idp_key, make_options, acs_url):
    """The URL python3-saml compares the Destination against is built from the configured ACS URL."""
    validator = v.Validator(v.Config(idp_entity_id=IDP_ENTITY_ID, idp_certificate=idp_key.cert_body,
                                     sp_entity_id=SP_ENTITY_ID, acs_url=acs_url))
    document = idp.make_response(make_options(acs_url=acs_url), idp_key)
    assert validator.validate(idp.encode(document)).user == USER


# --- how the value and the document are read ----------------------------------------------------------------


def test_a_value_wrapped_by_the_idp_is_read_whole(v, idp_key, make_options):
    """IdPs wrap the base64 at 64 or 76 characters, with CRLF, LF, tabs or spaces."""
    value = idp.encode(idp.make_response(make_options(), idp_key))
    wrapped = "\r\n".join(value[i:i + 76] for i in range(0, len(value), 76)).replace("A", "A\t", 3)
    assert "\r\n" in wrapped and "\t" in wrapped
    assert _validator(v, idp_key).validate(wrapped.replace("B", " B", 3)).user == USER


def test_the_largest_document_is_max_body_bytes(v, idp_key, make_options):
    document = idp.make_response(make_options(), idp_key)
    assert _validator(v, idp_key, max_body_bytes=len(document)).validate(idp.encode(document)).user == USER
    refused = _outcome(_validator(v, idp_key, max_body_bytes=len(document) - 1), v, idp.encode(document))
    assert refused == (400, "body_too_large", "", "body_too_large")


@pytest.mark.parametrize("value", ["not*base64!", "QUJ", "QUJDRA"])
def test_a_value_that_is_not_strict_base64_is_refused(v, idp_key, value):
    assert _outcome(_validator(v, idp_key), v, value) == (400, "bad_base64", "", "bad_base64")


@pytest.mark.parametrize("encoding", ["utf-8", "UTF-8", "utf8", "Utf-8"])
def test_a_document_declared_utf8_in_any_spelling_libxml2_knows_is_read(v, idp_key, make_options, encoding):
    document = idp.make_response(make_options(), idp_key).replace(b"'UTF-8'", f"'{encoding}'".encode(), 1)
    assert f"encoding='{encoding}'".encode() in document
    assert _validator(v, idp_key).validate(idp.encode(document)).user == USER


@pytest.mark.parametrize("encoding", ["UTF-7", "ISO-8859-1", "UTF_8", "utf-16"])
def test_a_signed_document_declared_in_another_encoding_is_refused_before_parsing(v, idp_key, make_options,
                                                                                  encoding):
    """python3-saml's parser would honour the declaration (UTF-7 reads '+' in the signature differently)."""
    document = idp.make_response(make_options(), idp_key).replace(b"'UTF-8'", f"'{encoding}'".encode(), 1)
    assert _outcome(_validator(v, idp_key), v, idp.encode(document)) == (400, "not_xml", "not UTF-8",
                                                                          "not_xml: not UTF-8")


def test_bytes_that_are_not_utf8_are_refused_as_such(v, idp_key, make_options):
    document = idp.make_response(make_options(user="Jose"), idp_key).replace(b">Jose<", b">Jos\xe9<")
    assert _outcome(_validator(v, idp_key), v, idp.encode(document)) == (400, "not_xml", "not UTF-8",
                                                                          "not_xml: not UTF-8")


@pytest.mark.parametrize("markup", ["<!DOCTYPE samlp:Response>", "<!-- <!ENTITY x 'y'> -->"])
def test_any_doctype_or_entity_declaration_is_refused_before_parsing(v, idp_key, make_options, markup):
    """Even a DOCTYPE without entities, or an ENTITY declaration in a comment: SAML needs neither."""
    document = idp.make_response(make_options(), idp_key).replace(b"?>", b"?>" + markup.encode(), 1)
    assert _outcome(_validator(v, idp_key), v, idp.encode(document)) == (400, "xml_doctype", "", "xml_doctype")


def test_a_processing_instruction_in_the_signed_username_is_refused(v, idp_key, make_options):
    """Like a comment, a processing instruction is not covered by exclusive c14n: alice<?x?>-evil."""
    document = idp.make_response(make_options(user="alice-evil"), idp_key).replace(
        b">alice-evil</saml:AttributeValue>", b">alice<?x y?>-evil</saml:AttributeValue>")
    assert _outcome(_validator(v, idp_key), v, idp.encode(document))[:2] == (403, "xml_comment")


def test_a_document_nested_deeper_than_the_parser_allows_is_refused_as_not_xml(v, idp_key, make_options):
    root = idp.build_response(make_options())
    extensions = etree.Element(f"{{{idp.NS_SAMLP}}}Extensions")
    root.find("saml:Issuer", NS).addnext(extensions)
    nested = extensions
    for _ in range(300):
        nested = etree.SubElement(nested, "{urn:example:deep}n")
    idp.sign_element(root.find("saml:Assertion", NS), idp_key)
    assert _outcome(_validator(v, idp_key), v, idp.encode(_serialised(root))) == (400, "not_xml", "", "not_xml")


# --- what a refused document is logged as -------------------------------------------------------------------


def test_a_request_refused_before_its_document_is_read_logs_empty_ids(post):
    posted = post(body="SAMLResponse=not*base64!")
    assert (posted.status, posted.reason) == (400, "bad_base64")
    assert (posted.log["assertion_id"], posted.log["issuer"]) == ("", "")


def test_a_refused_assertion_is_logged_by_the_id_and_issuer_it_claims(post, signed):
    posted = post(signed(assertion_id="_expired-1", lifetime=-3600))
    assert (posted.status, posted.reason) == (403, "expired")
    assert (posted.log["assertion_id"], posted.log["issuer"]) == ("_expired-1", IDP_ENTITY_ID)


def test_a_refused_response_is_logged_by_the_responses_issuer_before_the_assertions(post, signed):
    document = signed().replace(f"<saml:Issuer>{IDP_ENTITY_ID}</saml:Issuer>".encode(),
                                b"<saml:Issuer>https://evil-idp.example.com</saml:Issuer>", 1)
    posted = post(document)
    assert (posted.status, posted.reason) == (403, "wrong_issuer")
    assert posted.log["issuer"] == "https://evil-idp.example.com"


def test_without_a_response_issuer_the_assertions_issuer_is_logged(post, signed, idp_key):
    root = etree.fromstring(signed(sign="none", lifetime=-3600))
    root.remove(root.find("saml:Issuer", NS))
    idp.sign_element(root.find("saml:Assertion", NS), idp_key)
    posted = post(_serialised(root))
    assert (posted.status, posted.reason) == (403, "expired")
    assert posted.log["issuer"] == IDP_ENTITY_ID


def test_the_logged_ids_are_printable_ascii_and_at_most_128_characters(post, signed):
    claimed = "https://idp.example.com/ evil\u2028\t" + "x" * 200
    posted = post(signed(issuer=claimed))
    assert posted.reason == "wrong_issuer"
    assert posted.log["issuer"] == ("https://idp.example.com/?evil??" + "x" * 200)[:128]


def test_a_document_that_is_not_a_response_is_logged_without_ids(post):
    posted = post(b"<Assertion><Issuer>somebody</Issuer></Assertion>")
    assert (posted.status, posted.reason) == (403, "not_saml_response")
    assert (posted.log["assertion_id"], posted.log["issuer"]) == ("", "")


# --- python3-saml's schemas ---------------------------------------------------------------------------------


def test_python3_saml_schemas_are_compiled_once_per_thread_however_many_validators(v, idp_key):
    """The library compiles its XSDs on every validation; the validator caches them per thread (lxml schemas
    are not shared between threads) and wraps the library's hook once, not once per Validator built."""
    import onelogin.saml2
    from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

    _validator(v, idp_key)
    hook = OneLogin_Saml2_XML._schema_class
    for _ in range(3):
        _validator(v, idp_key)
    assert OneLogin_Saml2_XML._schema_class is hook
    tree = etree.parse(str(Path(onelogin.saml2.__file__).parent / "schemas" / "saml-schema-protocol-2.0.xsd"))
    first, again = hook(tree), hook(tree)
    assert isinstance(first, etree.XMLSchema) and first is again
    elsewhere = []
    thread = threading.Thread(target=lambda: elsewhere.append(hook(tree)))
    thread.start()
    thread.join()
    assert isinstance(elsewhere[0], etree.XMLSchema) and elsewhere[0] is not first
    # each schema its own: python3-saml also validates metadata, against another schema
    metadata = etree.parse(str(Path(onelogin.saml2.__file__).parent / "schemas" / "saml-schema-metadata-2.0.xsd"))
    assert hook(metadata) is hook(metadata) is not first



# --- each refusal, with its reason and detail ---------------------------------------------------------------


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _assertion(root):
    return root.find("saml:Assertion", NS)


def _remove(path: str):
    def change(root):
        for found in root.findall(path, NS):
            found.getparent().remove(found)
    return change


def _duplicate(path: str):
    def change(root):
        found = root.find(path, NS)
        found.addnext(etree.fromstring(etree.tostring(found)))
    return change


def _decoy_with_the_assertion_id_as(attribute: str):
    def change(root):
        extensions = etree.Element(_q(idp.NS_SAMLP, "Extensions"))
        etree.SubElement(extensions, "{urn:example:decoy}Decoy").set(attribute, _assertion(root).get("ID"))
        root.find("saml:Issuer", NS).addnext(extensions)
    return change


def _set(path: str, name: str, value: str | None):
    def change(root):
        for found in root.findall(path, NS):
            if value is None:
                found.attrib.pop(name, None)
            else:
                found.set(name, value)
    return change


def _confirmation_method(method: str):
    return _set("saml:Assertion/saml:Subject/saml:SubjectConfirmation", "Method", method)


def _plain_value(name: str, change_value):
    def change(root):
        for attribute in root.iter(_q(idp.NS_SAML, "Attribute")):
            if attribute.get("Name") == name:
                change_value(attribute[0])
    return change


def _nil(value):
    value.text = None
    del value.attrib[_q(idp.NS_XSI, "type")]
    value.set(_q(idp.NS_XSI, "nil"), "true")


def _assertion_moved_into_extensions(root):
    extensions = etree.Element(_q(idp.NS_SAMLP, "Extensions"))
    root.find("saml:Issuer", NS).addnext(extensions)
    extensions.append(_assertion(root))


def _encrypted_assertion_beside(root):
    encrypted = etree.SubElement(root, _q(idp.NS_SAML, "EncryptedAssertion"))
    etree.SubElement(encrypted, "{http://www.w3.org/2001/04/xmlenc#}EncryptedData")


def _signature_in_extensions(root):
    extensions = etree.Element(_q(idp.NS_SAMLP, "Extensions"))
    root.find("saml:Issuer", NS).addnext(extensions)
    extensions.append(_assertion(root).find("ds:Signature", NS))


def _second_reference(root):
    reference = root.find("saml:Assertion/ds:Signature/ds:SignedInfo/ds:Reference", NS)
    reference.addnext(etree.fromstring(etree.tostring(reference)))


def _xpath_transform(root):
    transforms = root.find("saml:Assertion/ds:Signature/ds:SignedInfo/ds:Reference/ds:Transforms", NS)
    etree.SubElement(transforms, _q(idp.NS_DS, "Transform")).set(
        "Algorithm", "http://www.w3.org/TR/1999/REC-xpath-19991116")


def _second_signature_on_the_assertion(root):
    signature = root.find("saml:Assertion/ds:Signature", NS)
    signature.addnext(etree.fromstring(etree.tostring(signature)))


def _reference_to_a_response_without_id(root):
    del root.attrib["ID"]
    signature = root.find("saml:Assertion/ds:Signature", NS)
    root.find("saml:Issuer", NS).addnext(signature)
    signature.find("ds:SignedInfo/ds:Reference", NS).set("URI", "#")


SIGNED_INFO = "saml:Assertion/ds:Signature/ds:SignedInfo"
CONFIRMATION = "saml:Assertion/saml:Subject/saml:SubjectConfirmation"
# (case, change to the signed document (True: made before signing, so the signature holds), refusal)
REFUSALS = [
    ("no Status", _remove("samlp:Status"), False, ("status_not_success", "")),
    ("no Issuer in the assertion", _remove("saml:Assertion/saml:Issuer"), False, ("wrong_issuer", "")),
    ("two Issuers in the assertion", _duplicate("saml:Assertion/saml:Issuer"), False, ("wrong_issuer", "")),
    ("the response's Issuer is another IdP",
     lambda root: setattr(root.find("saml:Issuer", NS), "text", "https://evil-idp.example.com"), True,
     ("wrong_issuer", "")),
    ("the assertion's Issuer is another IdP",
     lambda root: setattr(_assertion(root).find("saml:Issuer", NS), "text", "https://evil-idp.example.com"), True,
     ("wrong_issuer", "")),
    ("no Conditions", _remove("saml:Assertion/saml:Conditions"), True, ("schema_invalid", "not exactly one Conditions")),
    ("two Conditions", _duplicate("saml:Assertion/saml:Conditions"), True,
     ("schema_invalid", "not exactly one Conditions")),
    ("no bearer SubjectConfirmation", _confirmation_method("urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"), True,
     ("wrong_recipient", "not exactly one bearer SubjectConfirmation")),
    ("two bearer SubjectConfirmations", _duplicate(CONFIRMATION), True,
     ("wrong_recipient", "not exactly one bearer SubjectConfirmation")),
    ("no SubjectConfirmationData", _remove(f"{CONFIRMATION}/saml:SubjectConfirmationData"), True,
     ("wrong_recipient", "")),
    ("no Recipient", _set(f"{CONFIRMATION}/saml:SubjectConfirmationData", "Recipient", None), True,
     ("wrong_recipient", "")),
    ("a decoy carrying the assertion's ID as Id", _decoy_with_the_assertion_id_as("Id"), False, "duplicate_id"),
    ("a decoy carrying the assertion's ID as AssertionID", _decoy_with_the_assertion_id_as("AssertionID"), False,
     "duplicate_id"),
    ("an EncryptedAssertion beside the assertion", _encrypted_assertion_beside, False, ("assertion_count", "1")),
    ("no assertion", _remove("saml:Assertion"), False, ("assertion_count", "0")),
    ("the only assertion inside Extensions", _assertion_moved_into_extensions, False,
     ("signature_wrapping", "the assertion is not a child of the response")),
    ("the assertion's signature inside Extensions", _signature_in_extensions, False,
     ("signature_wrapping", "a signature outside the response and assertion")),
    ("a signature with two references", _second_reference, False,
     ("signature_wrapping", "a signature that does not sign its own parent")),
    ("a reference to '#' from a response without an ID", _reference_to_a_response_without_id, False,
     ("signature_wrapping", "a signature that does not sign its own parent")),
    ("an XPath transform", _xpath_transform, False, ("signature_wrapping", "an unexpected signature transform")),
    ("two signatures on the assertion", _second_signature_on_the_assertion, False,
     ("signature_wrapping", "two signatures on one element")),
    ("no CanonicalizationMethod", _remove(f"{SIGNED_INFO}/ds:CanonicalizationMethod"), False,
     ("weak_algorithm", "CanonicalizationMethod 0 elements")),
    ("two SignatureMethods", _duplicate(f"{SIGNED_INFO}/ds:SignatureMethod"), False,
     ("weak_algorithm", "SignatureMethod 2 elements")),
    ("a SHA-1 digest", _set(f"{SIGNED_INFO}/ds:Reference/ds:DigestMethod", "Algorithm",
                            "http://www.w3.org/2000/09/xmldsig#sha1"), False,
     ("weak_algorithm", "DigestMethod http://www.w3.org/2000/09/xmldsig#sha1")),
    ("a signature method named with spaces", _set(f"{SIGNED_INFO}/ds:SignatureMethod", "Algorithm", "rsa sha1\n"),
     False, ("weak_algorithm", "SignatureMethod rsa?sha1?")),
    ("no username attribute", _remove("saml:Assertion/saml:AttributeStatement/saml:Attribute[@Name='username']"),
     True, ("missing_attribute", "username")),
    ("a username attribute without a value", _plain_value("username", lambda value: value.getparent().remove(value)),
     True, ("missing_attribute", "username")),
    ("two username values", _duplicate("saml:Assertion/saml:AttributeStatement/saml:Attribute/saml:AttributeValue"),
     True, ("invalid_attribute", "username: 2 values")),
    ("a nil username", _plain_value("username", _nil), True, ("invalid_attribute", "username: not a plain string")),
    ("a domain that is not a domain id", _plain_value("domain-id", lambda value: setattr(value, "text", "d_abc")),
     True, ("invalid_attribute", "domain-id: not a valid name")),
]


@pytest.mark.parametrize("change, before_signing, refusal", [case[1:] for case in REFUSALS],
                         ids=[case[0] for case in REFUSALS])
def test_a_malformed_response_is_refused_with_its_reason_and_detail(v, idp_key, make_options, change,
                                                                    before_signing, refusal):
    root = idp.build_response(make_options())
    if before_signing:
        change(root)
    idp.sign_element(_assertion(root), idp_key)
    root = etree.fromstring(_serialised(root))  # as sent: lxml finds some nodes xmlsec made only once re-read
    if not before_signing:
        change(root)
    status, reason, detail, message = _outcome(_validator(v, idp_key), v, idp.encode(_serialised(root)))
    if isinstance(refusal, str):  # the detail is the (attacker-chosen) duplicate value
        assert (status, reason, detail) == (403, refusal, _assertion(root).get("ID"))
    else:
        assert (status, reason, detail) == (403, *refusal)
        assert message == (f"{reason}: {detail}" if detail else reason)


def test_a_refusal_for_python3_saml_carries_its_message(v, idp_key, make_options, other_key):
    """What the library refused for is kept as the detail (its error code chose the reason)."""
    document = idp.make_response(make_options(), other_key)
    assert _outcome(_validator(v, idp_key), v, idp.encode(document))[:3] == (
        403, "bad_signature", "Signature validation failed. SAML Response rejected")


def test_a_duplicate_id_is_named_by_its_first_64_characters(v, idp_key, make_options):
    long_id = "_" + "0123456789" * 10
    root = idp.build_response(make_options(assertion_id=long_id))
    idp.sign_element(_assertion(root), idp_key)
    root = etree.fromstring(_serialised(root))
    _decoy_with_the_assertion_id_as("ID")(root)
    assert _outcome(_validator(v, idp_key), v, idp.encode(_serialised(root)))[:3] == (403, "duplicate_id",
                                                                                       long_id[:64])


@pytest.mark.parametrize("session_end, refusal", [
    # python3-saml's own parse of the time fails with a bare Exception: still a refusal, never a server error
    ("2030-01-01T00:00:00+01:00", ("invalid_response", "Exception")),
    ("2020-01-01T00:00:00Z", ("expired", ("The attributes have expired, based on the SessionNotOnOrAfter of the "
                                          "AttributeStatement of this Response"))),
])
def test_a_session_end_python3_saml_refuses_is_refused_with_its_reason(v, idp_key, make_options, session_end,
                                                                       refusal):
    root = idp.build_response(make_options())
    root.find("saml:Assertion/saml:AuthnStatement", NS).set("SessionNotOnOrAfter", session_end)
    idp.sign_element(_assertion(root), idp_key)
    assert _outcome(_validator(v, idp_key), v, idp.encode(_serialised(root)))[:3] == (403, *refusal)


def test_the_validator_judges_the_assertions_times_at_the_moment_it_is_given(v, idp_key, make_options):
    """(python3-saml, which checks after, reads the real clock: the moment given may only be near it.)"""
    import datetime as dt

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    value = idp.encode(idp.make_response(make_options(now=now, lifetime=10), idp_key))
    assert _validator(v, idp_key).validate(value, now=int(now.timestamp())).user == USER
    later = _validator(v, idp_key)
    with pytest.raises(v.Refused) as refused:  # the confirmation ended 20 s before the moment given
        later.validate(value, now=int(now.timestamp()) + 30)
    assert (refused.value.reason, refused.value.detail) == ("expired", "")


def test_a_domain_outside_the_allow_list_is_named_in_the_refusal(v, idp_key, make_options):
    value = idp.encode(idp.make_response(make_options(), idp_key))
    refused = _outcome(_validator(v, idp_key, allowed_domains=frozenset({"d-other0000"})), v, value)
    assert refused == (403, "domain_not_allowed", make_options().domain, f"domain_not_allowed: {make_options().domain}")


def test_an_assertion_without_attributes_is_refused_by_python3_saml_as_such(v, idp_key, make_options):
    root = idp.build_response(make_options())
    _remove("saml:Assertion/saml:AttributeStatement")(root)
    idp.sign_element(_assertion(root), idp_key)
    assert _outcome(_validator(v, idp_key), v, idp.encode(_serialised(root)))[:3] == (
        403, "missing_attribute", "There is no AttributeStatement on the Response")


def test_a_refused_sign_in_writes_nothing_but_its_log_line(post, signed, capfd):
    """python3-saml's debug mode would print each error (and xmlsec's trace) to the function's output."""
    for document in (signed(lifetime=-3600), signed(digest="sha256", signature_hash="sha256").replace(
            b"<saml:AttributeValue", b"<saml:AttributeValue xml:lang='en'", 1)):
        assert post(document).status == 403
    assert capfd.readouterr() == ("", "")
