"""Parse untrusted XML with the standard library, refusing DTDs outright.

defusedxml is not installed, so this drives expat directly: any DOCTYPE,
entity declaration or external entity reference raises before expat can
expand it, which rules out billion-laughs, quadratic blow-up and XXE (file or
network reads). A SOAP message never needs a DTD, so refusing them costs
nothing. Elements come back as an ``ElementTree`` in Clark notation
(``{namespace}local``), like ``xml.etree.ElementTree`` produces.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import NoReturn
from xml.parsers import expat

from prm_sync.webhooks.errors import RejectReason, WebhookRejected

_NS_SEPARATOR = "}"


class UnsafeXml(ValueError):
    """The document declares a DTD or entities; raised from inside expat's callbacks."""


def _refuse(*_args: object) -> NoReturn:
    raise UnsafeXml


def _clark(name: str) -> str:
    return "{" + name if _NS_SEPARATOR in name else name


def parse_untrusted_xml(data: bytes) -> ET.Element:
    """The root element; ``WebhookRejected`` for DTDs (unsafe_xml) or broken XML (malformed_body)."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator=_NS_SEPARATOR)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.StartElementHandler = lambda name, attrs: builder.start(
        _clark(name), {_clark(k): v for k, v in attrs.items()}
    )
    parser.EndElementHandler = lambda name: builder.end(_clark(name))
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except UnsafeXml:
        raise WebhookRejected(RejectReason.unsafe_xml) from None
    except expat.ExpatError:
        raise WebhookRejected(RejectReason.malformed_body) from None
    root = builder.close()
    if root is None:
        raise WebhookRejected(RejectReason.malformed_body)
    return root
