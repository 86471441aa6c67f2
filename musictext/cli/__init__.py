"""The command line: one small module per subcommand; no audio, SQL or ONNX code lives here."""
