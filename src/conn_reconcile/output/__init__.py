"""What the commands print: plans, apply results, progress, settings and secrets' names, every byte
through the redactor and output escaping."""
