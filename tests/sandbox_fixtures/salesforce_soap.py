"""A user's merge in Salesforce through the SOAP API's ``merge()`` call, as any SOAP client sends it.

simple-salesforce has no merge (there is no REST resource for it), so this
posts the partner-WSDL envelope over the client's own ``requests`` session
and session id, to ``https://<instance>/services/Soap/u/<version>``, the
way simple-salesforce itself talks SOAP for its login.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from simple_salesforce import Salesforce

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"


@dataclass
class MergeResult:
    success: bool
    id: str | None
    merged_ids: list[str] = field(default_factory=list)
    updated_related_ids: list[str] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (statusCode, message)


class SoapFault(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


def merge_envelope(session_id: str, requests: list[tuple[str, str, list[str], dict[str, str]]]) -> str:
    """``merge()`` with one ``MergeRequest`` per (object, master id, loser ids, master field values)."""
    parts = []
    for object_name, master_id, loser_ids, values in requests:
        fields = "".join(f"<sf:{name}>{escape(value)}</sf:{name}>" for name, value in values.items())
        losers = "".join(f"<urn:recordToMergeIds>{i}</urn:recordToMergeIds>" for i in loser_ids)
        parts.append(
            f"<urn:request><urn:masterRecord><sf:type>{object_name}</sf:type><sf:Id>{master_id}</sf:Id>{fields}"
            f"</urn:masterRecord>{losers}</urn:request>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="{ENV}" xmlns:urn="{PARTNER}" '
        f'xmlns:sf="urn:sobject.partner.soap.sforce.com"><soapenv:Header><urn:SessionHeader>'
        f"<urn:sessionId>{escape(session_id)}</urn:sessionId></urn:SessionHeader></soapenv:Header>"
        f"<soapenv:Body><urn:merge>{''.join(parts)}</urn:merge></soapenv:Body></soapenv:Envelope>"
    )


def post_soap(sf: Salesforce, envelope: str) -> ET.Element:
    """POST an envelope to the org's partner endpoint; the Body's first element, or ``SoapFault``."""
    url = f"https://{sf.sf_instance}/services/Soap/u/{sf.sf_version}"
    headers = {"Content-Type": "text/xml; charset=UTF-8", "SOAPAction": '""'}
    response = sf.session.post(url, data=envelope.encode(), headers=headers, timeout=10)
    root = ET.fromstring(response.content)
    body = root.find(f"{{{ENV}}}Body")
    assert body is not None and len(body), response.text
    fault = body.find(f"{{{ENV}}}Fault")
    if fault is not None:
        code = (fault.findtext("faultcode") or "").split(":")[-1]
        raise SoapFault(response.status_code, code, fault.findtext("faultstring") or "")
    return body[0]


def soap_merge(sf: Salesforce, object_name: str, master_id: str, loser_ids: list[str],
               values: dict[str, str] | None = None) -> MergeResult:
    """Merge ``loser_ids`` into ``master_id`` as a user's tool would (one MergeRequest)."""
    answer = post_soap(sf, merge_envelope(str(sf.session_id), [(object_name, master_id, loser_ids, values or {})]))
    [result] = answer.findall(f"{{{PARTNER}}}result")

    def texts(name: str) -> list[str]:
        return [e.text or "" for e in result.findall(f"{{{PARTNER}}}{name}")]

    errors = [(e.findtext(f"{{{PARTNER}}}statusCode") or "", e.findtext(f"{{{PARTNER}}}message") or "")
              for e in result.findall(f"{{{PARTNER}}}errors")]
    return MergeResult(
        success=texts("success") == ["true"], id=(texts("id") or [None])[0] or None, merged_ids=texts("mergedRecordIds"),
        updated_related_ids=texts("updatedRelatedIds"), errors=errors,
    )
