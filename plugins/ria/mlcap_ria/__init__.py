"""RIA (Jin & Nakayama, 2016) as an mlcap method."""

from mlcap_ria.method import RiaMethod

__all__ = ["RiaMethod"]
