"""idconsole's headless core: state, connectors, sync engine, reports. Never imports Textual."""

__version__ = "0.1.0"
