"""clock-app-ha: a tiny Flask app that shows the time and which instance served it.

The launch template's user data copies this file from the stack's S3 bucket and runs it on port 5000,
behind the Application Load Balancer. /health is the target group's health check.
"""
import socket
from datetime import datetime, timezone

from flask import Flask

app = Flask(__name__)


@app.route("/")
def clock():
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"<h1>{now}</h1><p>served by {socket.gethostname()}</p>\n"


@app.route("/health")
def health():
    return "ok\n"


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=5000)
