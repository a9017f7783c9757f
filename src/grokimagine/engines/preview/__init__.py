"""The preview engine: real MP4s on the CPU in about a second, for trying the service without
a GPU or a provider."""
