"""The SOAP API's ``merge()`` call (partner WSDL, ``/services/Soap/u/XX.X``).

Salesforce has no REST resource for merging records: a user merges in the UI
or a client calls SOAP ``merge()`` with up to 200 ``MergeRequest``s, each a
``masterRecord`` (an sObject with its ``Id`` and any field values that should
win) and one or two ``recordToMergeIds``. Each request is its own transaction:
the losers are soft-deleted with ``MasterRecordId`` set (``queryAll`` shows
them) and their children re-parented to the master; the answer lists
``mergedRecordIds`` and ``updatedRelatedIds``. Only Account, Contact and Lead
merge. The session travels in the ``SessionHeader``, not in an Authorization
header. Any other SOAP operation is answered with a fault and recorded as
unimplemented, so strict tests notice.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from connectors.sandbox.http import SandboxRequest, SandboxResponse
from connectors.sandbox.salesforce.validation import RequestError

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.app import SalesforceSandbox

SOAP_PATH = r"/services/Soap/u/(?P<version>\d+\.\d+)(?:/(?P<org>\w+))?"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
SOBJECT = "urn:sobject.partner.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_REQUESTS = 200
MAX_MERGED = 2
MERGEABLE = {"Account", "Contact", "Lead"}


class SoapFault(Exception):
    def __init__(self, code: str, message: str, *, client: bool = False) -> None:
        super().__init__(message)
        self.code, self.message, self.client = code, message, client


def is_soap(request: SandboxRequest) -> bool:
    return request.path.startswith("/services/Soap/")


def register(app: SalesforceSandbox) -> None:
    app.route("POST", SOAP_PATH, lambda request: _handle(app, request), "soap")


def session_id(request: SandboxRequest) -> str | None:
    """The ``SessionHeader``'s ``sessionId`` (None when the envelope is unreadable or has none)."""
    try:
        envelope = _parse(request.body)
    except SoapFault:
        return None
    found = envelope.find(f"{{{ENV}}}Header/{{{PARTNER}}}SessionHeader/{{{PARTNER}}}sessionId")
    return (found.text or "").strip() if found is not None else None


def fault_response(code: str, message: str, *, client: bool = False) -> SandboxResponse:
    """A SOAP 1.1 fault as Salesforce sends it (HTTP 500, ``sf:CODE`` or ``soapenv:Client``)."""
    faultcode = "soapenv:Client" if client else f"sf:{code}"
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{ENV}" '
        f'xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="{XSI}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>{faultcode}</faultcode><faultstring>{escape(f'{code}: {message}')}</faultstring>"
        f'<detail><sf:UnexpectedErrorFault xsi:type="sf:UnexpectedErrorFault"><sf:exceptionCode>{code}'
        f"</sf:exceptionCode><sf:exceptionMessage>{escape(message)}</sf:exceptionMessage>"
        f"</sf:UnexpectedErrorFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return SandboxResponse.text(500, body, "text/xml;charset=UTF-8")


def _parse(body: bytes) -> ET.Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise SoapFault("INVALID_XML", "DOCTYPE is not allowed", client=True)
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SoapFault("INVALID_XML", f"could not parse the request: {exc}", client=True) from None
    if root.tag != f"{{{ENV}}}Envelope":
        raise SoapFault("INVALID_XML", "the request is not a SOAP 1.1 envelope", client=True)
    return root


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _handle(app: SalesforceSandbox, request: SandboxRequest) -> SandboxResponse:
    try:
        envelope = _parse(request.body)
        body = envelope.find(f"{{{ENV}}}Body")
        operation = body[0] if body is not None and len(body) else None
        if operation is None:
            raise SoapFault("INVALID_XML", "the SOAP Body is empty", client=True)
        if operation.tag != f"{{{PARTNER}}}merge":
            with app.lock:
                app.unimplemented.append(f"SOAP {_local(operation.tag)}")
            msg = f"No operation available for request {operation.tag}"
            raise SoapFault("INVALID_OPERATION", msg, client=True)
        requests = operation.findall(f"{{{PARTNER}}}request")
        if not requests:
            raise SoapFault("INVALID_XML", "merge needs at least one MergeRequest", client=True)
        if len(requests) > MAX_REQUESTS:
            raise SoapFault("LIMIT_EXCEEDED", f"Too many merge requests: {len(requests)} (at most {MAX_REQUESTS})")
        results = [_merge_one(app, r) for r in requests]
    except SoapFault as fault:
        return fault_response(fault.code, fault.message, client=fault.client)
    used, limit = app.usage()
    payload = (
        f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="{ENV}" xmlns="{PARTNER}">'
        f"<soapenv:Header><LimitInfoHeader><limitInfo><current>{used}</current><limit>{limit}</limit>"
        f"<type>API REQUESTS</type></limitInfo></LimitInfoHeader></soapenv:Header>"
        f"<soapenv:Body><mergeResponse>{''.join(results)}</mergeResponse></soapenv:Body></soapenv:Envelope>"
    )
    app.after_write()
    return SandboxResponse.text(200, payload, "text/xml;charset=UTF-8")


def _merge_one(app: SalesforceSandbox, request: ET.Element) -> str:
    """One ``MergeRequest`` in its own transaction; its ``MergeResult`` as XML."""
    master = request.find(f"{{{PARTNER}}}masterRecord")
    losers = [(e.text or "").strip() for e in request.findall(f"{{{PARTNER}}}recordToMergeIds")]
    if master is None:
        raise SoapFault("INVALID_XML", "MergeRequest without masterRecord", client=True)
    fields: dict[str, str | None] = {}
    object_name = master_id = None
    for child in master:
        name = _local(child.tag)
        if name == "type":
            object_name = (child.text or "").strip()
        elif name == "Id":
            master_id = (child.text or "").strip()
        elif name == "fieldsToNull":
            fields[(child.text or "").strip()] = None
        else:
            nil = child.get(f"{{{XSI}}}nil") == "true"
            fields[name] = None if nil else (child.text or "")
    if not object_name:
        raise SoapFault("INVALID_TYPE", "Must send a concrete entity type.")
    try:
        if object_name not in MERGEABLE:
            msg = f"Merge is not supported for {object_name}: only Account, Contact and Lead records merge"
            raise RequestError("INVALID_TYPE", msg)
        if not losers or len(losers) > MAX_MERGED:
            msg = f"A merge takes one or two records to merge into the master, got {len(losers)}"
            raise RequestError("LIMIT_EXCEEDED", msg)
        with app.lock, app.store.transaction() as rollback:
            try:
                merged, related = app.store.merge(object_name, master_id or "", losers, fields)
            except RequestError:
                rollback()
                raise
    except RequestError as exc:
        return (
            f"<result><errors><message>{escape(exc.message)}</message><statusCode>{exc.code}</statusCode>"
            f"</errors><id xsi:nil=\"true\" xmlns:xsi=\"{XSI}\"/><success>false</success></result>"
        )
    return (
        f"<result><id>{master_id}</id>{''.join(f'<mergedRecordIds>{i}</mergedRecordIds>' for i in merged)}"
        f"<success>true</success>{''.join(f'<updatedRelatedIds>{i}</updatedRelatedIds>' for i in related)}</result>"
    )
