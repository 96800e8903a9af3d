"""Adapters that let other frameworks call through a rawllm client.

Each submodule imports its framework and lives behind its own extra:
``rawllm.integrations.langchain`` (extra ``[langchain]``).  ``import rawllm``
imports none of them.
"""
