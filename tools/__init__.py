"""Tools the loop can call: the registry (``@tool``), the built-ins and the tool-chain executor.

Importing this package is cheap: the document and graph tools import rag/ and kg/ only when they run.
"""

from tools.registry import Tool, ToolContext, ToolOutput, ToolRegistry, ToolResult, tool

__all__ = ["Tool", "ToolContext", "ToolOutput", "ToolRegistry", "ToolResult", "tool"]
