"""The official Anthropic and OpenAI Python SDKs, used as an agent would,
against two base URLs (the LunaRoute proxy and the provider stub directly):
prints, as JSON, what the SDKs handed back for each, so the test can check
that the proxy changes nothing a client can see.

    sdk_clients.py ANTHROPIC_PROXY OPENAI_PROXY ANTHROPIC_DIRECT OPENAI_DIRECT [UNREACHABLE_ANTHROPIC]
"""

import json
import sys

import anthropic
import openai

ANTHROPIC_KEY = "sk-ant-sdk-test-0123456789abcdef"
OPENAI_KEY = "sk-openai-sdk-test-0123456789abcdef"
PROMPT = [{"role": "user", "content": "hi"}]


def run(anthropic_base, openai_base):
    seen = {}
    a = anthropic.Anthropic(base_url=anthropic_base, api_key=ANTHROPIC_KEY, max_retries=0)
    seen["messages"] = a.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=PROMPT).model_dump()
    with a.messages.stream(model="claude-sonnet-4-5", max_tokens=100, messages=PROMPT) as stream:
        seen["messages_stream_events"] = [event.type for event in stream]
        seen["messages_stream"] = stream.get_final_message().model_dump()
    try:
        a.messages.create(model="overloaded", max_tokens=1, messages=PROMPT)
    except anthropic.APIStatusError as e:
        seen["overloaded"] = [e.status_code, e.body]

    o = openai.OpenAI(base_url=openai_base, api_key=OPENAI_KEY, max_retries=0)
    seen["chat"] = o.chat.completions.create(model="gpt-4o", messages=PROMPT).model_dump()
    seen["chat_stream"] = [c.model_dump() for c in o.chat.completions.create(model="gpt-4o", messages=PROMPT, stream=True)]
    seen["responses"] = o.responses.create(model="gpt-4o", input="hi").model_dump()
    seen["responses_stream"] = [e.type for e in o.responses.create(model="gpt-4o", input="hi", stream=True)]
    seen["models"] = [m.id for m in o.models.list()]
    return seen


def unreachable(anthropic_base):
    a = anthropic.Anthropic(base_url=anthropic_base, api_key=ANTHROPIC_KEY, max_retries=0)
    try:
        a.messages.create(model="claude-haiku-4-5", max_tokens=1, messages=PROMPT)
    except anthropic.APIStatusError as e:
        return [e.status_code, type(e).__name__, e.message]
    return None


if __name__ == "__main__":
    out = {"proxy": run(sys.argv[1], sys.argv[2]), "direct": run(sys.argv[3], sys.argv[4])}
    if len(sys.argv) > 5:
        out["unreachable"] = unreachable(sys.argv[5])
    print(json.dumps(out))
