"""waxell-observe auto-instrumentation for Amazon Bedrock through boto3 (converse, converse_stream, invoke_model) (being written)."""
