"""Formatters: each turns a `Result` into something a person or a program reads."""
