"""The chat page (Gradio): the app, its HTML, the request guard. Imports the pipeline; nothing imports it back."""
