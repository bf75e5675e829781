"""ERP sandbox: Odoo 17 external API over JSON-RPC (see ``app.py``)."""

from connectors.sandbox.erp.app import UID, ErpSandbox
from connectors.sandbox.erp.schema import MODELS, OdooError

__all__ = ["MODELS", "UID", "ErpSandbox", "OdooError"]
