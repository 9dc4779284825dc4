"""The bundled sample workspace: how it is built and where it is read from.

``data_samples/workspace.json`` is :func:`build_sample`'s output, committed so
that people can read it; when the folder is absent (an installed package) the
same workspace is rebuilt here, deterministically. Regenerate the file with::

    python -m taskade_frames.emulator._sample

The content is invented but plausible: a company space ("Acme Product") and a
personal one, hand-written outlines whose trees reach depth 5, a 1,000-task bug
backlog, a launch project with 45 members, agents with knowledge projects and
conversation transcripts, media and templates spread over folders. Tasks have
v1 details (assignees, dates around the emulator's clock, notes, field values).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._markdown import parse_outline
from ._model import Workspace
from ._synthetic import field_shapes, people
from ._task_details import add_task_details

DATA_DIR = Path(__file__).resolve().parents[2] / "data_samples"
SAMPLE_FILE = DATA_DIR / "workspace.json"

BUG_BACKLOG_TASKS = 1_000
LAUNCH_MEMBERS = 45
_T0 = 1_754_006_400_000  # 2025-08-01T00:00:00Z in epoch ms: the sample's "now" era

ROADMAP = """\
# Q3 Product Roadmap
- [ ] Theme: Collaboration
  - [ ] Shared workspaces
    - [x] Write the product brief
    - [ ] Permissions model
      - [x] Audit current roles (owner, editor, viewer)
      - [ ] Design guest access
        - [ ] Decide link expiry rules
          - [ ] Confirm the retention policy with legal
          - [x] Check what competitors offer
        - [ ] Prototype the invite dialog
    - [ ] Activity feed
      - [ ] Define which events appear
      - [ ] Paginate long feeds
  - [x] Real-time cursors
    - [x] Spike on CRDT libraries
    - [x] Ship behind a feature flag
- [ ] Theme: Reporting
  - [ ] Dashboards v1
    - [ ] Pick the first five charts
    - [ ] CSV export
      - [ ] Handle time zones in exported dates
  - [ ] Weekly email digest
- [ ] Theme: Platform health
  - [x] Upgrade to Postgres 16
  - [ ] Cut p95 API latency below 200 ms
    - [ ] Profile the ten slowest endpoints
    - [ ] Cache project lists
- [ ] Risks and open questions
  - [ ] Hiring for the data team is behind plan
  - [ ] Do we sunset the legacy Gantt view?
"""

LAUNCH = """\
# Mobile App 2.0 Launch
- [ ] Release readiness
  - [ ] iOS
    - [x] Migrate to the new navigation stack
    - [ ] App Store submission
      - [ ] Screenshots for every device size
        - [ ] Localize the captions
          - [x] German
          - [x] French
          - [ ] Japanese
          - [ ] Brazilian Portuguese
      - [x] Privacy nutrition label
    - [ ] TestFlight beta with 200 customers
  - [ ] Android
    - [x] Adopt Material 3 components
    - [ ] Fix the crash on Android 12 when opening attachments
    - [ ] Play Store listing
  - [ ] Offline mode
    - [ ] Sync conflict resolution
    - [x] Encrypt the local cache
- [ ] Launch communications
  - [ ] Blog post
  - [ ] In-app "What's new" sheet
  - [ ] Email to all active users
- [x] Kickoff meeting
"""

WEBSITE = """\
# Website Redesign
- [ ] Discovery
  - [x] Stakeholder interviews
  - [x] Analytics review of the top landing pages
- [ ] Information architecture
  - [ ] New navigation
    - [ ] Products menu
      - [ ] Solutions by team size
        - [ ] Startups page
          - [ ] Collect three customer quotes
          - [ ] Pricing callout
        - [ ] Enterprise page
  - [ ] Sitemap and redirects
- [ ] Visual design
  - [ ] Homepage hero options
  - [x] Update brand colors for accessible contrast
- [ ] Build
  - [ ] Set up the static site generator
  - [ ] Migrate 140 blog posts
  - [ ] Send form leads to the CRM
- [ ] Launch
  - [ ] Performance budget: LCP under 2.5 s
  - [ ] Go-live checklist
"""

INTERVIEWS = """\
# Customer Interview Notes
- [ ] Round 1: small agencies
  - [x] Northwind Studio — 12 May
    - [x] Uses projects as client portals
    - [x] Wants time tracking per task
  - [ ] Bright Pixel — 14 May
    - [ ] Pain points
      - [ ] Onboarding new freelancers takes too long
        - [ ] Follow-ups
          - [ ] Send them the template gallery link
          - [ ] Ask for a screen recording of their setup
- [ ] Round 2: enterprise IT
  - [ ] Contoso — security review
    - [ ] SSO and SCIM questions
    - [ ] Data residency in the EU
  - [ ] Fabrikam — rollout to 800 seats
- [ ] Synthesis
  - [ ] Affinity map of all notes
  - [ ] Top five opportunities for Q4
"""

INBOX = """\
# Acme Inbox
- [ ] Reply to the partnership email from Globex
- [x] Approve the September expense reports
- [ ] Renew the acme.example domain before 1 October
"""

KITCHEN = """\
# Kitchen Renovation
- [ ] Budget
  - [x] Get three contractor quotes
  - [ ] Set aside a 10% contingency
- [ ] Design
  - [ ] Layout
    - [x] Measure the room
    - [ ] Choose cabinets
      - [ ] Upper cabinets
        - [ ] Hardware
          - [ ] Brushed brass handles
          - [x] Soft-close hinges
      - [ ] Pantry unit
  - [ ] Countertop: quartz or butcher block?
- [ ] Appliances
  - [x] Induction hob
  - [ ] Dishwasher (quiet, under 44 dB)
- [ ] Schedule
  - [ ] Book the electrician
  - [ ] Order tiles (6-week lead time)
"""

READING = """\
# Reading List & Courses
- [ ] Books
  - [x] "Thinking in Systems" by Donella Meadows
  - [ ] "The Design of Everyday Things" by Don Norman
  - [ ] "Designing Data-Intensive Applications"
    - [ ] Part II: distributed data
      - [ ] Chapter 9: consistency and consensus
        - [ ] Notes
          - [ ] Linearizability vs. serializability
          - [ ] Summarize the Raft paper
- [ ] Courses
  - [ ] Statistics refresher
    - [x] Week 1: distributions
    - [ ] Week 2: hypothesis tests
  - [ ] Spanish A2
- [x] Set a reading goal: 20 books this year
"""

# One task has a two-line text (written "\\n" in the outline) and non-ASCII text.
LISBON = """\
# Trip to Lisbon
- [ ] Book flights
- [ ] Where to eat
  - [ ] Pastéis de Belém 🥐
  - [ ] Time Out Market\\nOpen daily 10:00–24:00
- [x] Renew passport
"""

_COMPONENTS = ("iOS app", "Android app", "Web app", "Public API", "Integrations", "Billing")
_SYMPTOMS = (
    "crashes",
    "shows a blank screen",
    "duplicates tasks",
    "loses unsaved edits",
    "times out",
    "shows the wrong due date",
    "ignores the dark theme",
    "logs the user out",
    "sends two notifications",
    "renders emoji as boxes",
    "drops attachments",
    "sorts completed tasks first",
)
_ACTIONS = (
    "opening a shared project",
    "pasting a long list",
    "switching workspaces",
    "uploading a PDF",
    "exporting to CSV",
    "reordering subtasks",
    "going offline",
    "changing the time zone",
    "inviting a guest",
    "archiving a project",
    "filtering by assignee",
    "renaming a folder",
)
_PLATFORMS = ("iOS 17", "iOS 18", "Android 13", "Android 14", "Chrome", "Safari", "Firefox")
_VERSIONS = ("4.12", "4.13", "4.14", "5.0", "5.1")


def _bug_backlog(rng: random.Random, total: int) -> list[tuple[int, str, bool]]:
    """A triage backlog of exactly ``total`` rows, grouped by component."""
    rows: list[tuple[int, str, bool]] = []
    number = 2100
    for k, component in enumerate(_COMPONENTS):
        quota = total * (k + 1) // len(_COMPONENTS)
        rows.append((0, component, False))
        while len(rows) < quota:
            number += rng.randrange(1, 9)
            done = rng.random() < 0.45
            bug = [
                (
                    1,
                    f"BUG-{number}: {component} {rng.choice(_SYMPTOMS)} when "
                    f"{rng.choice(_ACTIONS)}",
                    done,
                )
            ]
            bug.append((2, f"Reproduce on {rng.choice(_PLATFORMS)}", done or rng.random() < 0.5))
            if rng.random() < 0.6 or len(rows) < 10:
                old, new = sorted(rng.sample(_VERSIONS, 2))
                bug.append((2, "Find the root cause", done))
                if rng.random() < 0.5 or len(rows) < 10:
                    day = rng.randrange(1, 29)
                    bug.append((3, f"Check server logs around 2025-07-{day:02d}", done))
                    bug.append((4, f"Compare with release {old}", done))
                    bug.append((5, f"Bisect the commits between {old} and {new}", done))
            if rng.random() < 0.5:
                bug.append((2, "Write a regression test", done))
            bug.append((2, f"Ship the fix in {rng.choice(_VERSIONS)}", done))
            if rng.random() < 0.3:
                bug.append((2, "Reply to the customer who reported it", done))
            rows.extend(bug[: quota - len(rows)])
    return rows


def _transcript(turns: Sequence[tuple[str, str]]) -> str:
    return "\n".join(f"User: {q}\nAssistant: {a}" for q, a in turns)


_ROADMAP_TOPICS = (
    (
        "guest access",
        "Two tasks are open: deciding the link expiry rules and prototyping the invite dialog.",
    ),
    ("the activity feed", "Nothing has started yet; the event list needs a decision first."),
    (
        "dashboards v1",
        "The first five charts are not picked yet, and CSV export waits on time-zone handling.",
    ),
    ("API latency", "Profiling the ten slowest endpoints is next; caching comes after."),
    (
        "the App Store submission",
        "Screenshots are missing for Japanese and Brazilian Portuguese; the privacy label is done.",
    ),
)
_LLMS = (
    {"type": "openai", "name": "gpt-4o"},
    {"type": "anthropic", "name": "anthropic/claude-sonnet-4.5"},
    {"type": "google", "name": "google/gemini-2.5-flash"},
    {"type": "openai", "name": "gpt-4.1-mini"},
)
_STATUSES = ("idle", "idle", "requires_review", "in_progress")


def _agent_data(
    description: str, emoji: str, tone: str, commands: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    return {
        "commands": [
            {
                "name": name,
                "prompt": prompt,
                "id": name.lower().replace(" ", "_"),
                "mode": "default",
            }
            for name, prompt in commands
        ],
        "description": description,
        "tone": tone,
        "avatar": {"type": "emoji", "data": {"value": emoji}},
        "knowledgeEnabled": True,
        "language": "en-US",
    }


def build_sample() -> Workspace:
    """Build the sample workspace from scratch (deterministic)."""
    rng = random.Random("taskade-frames sample workspace v1")
    ws = Workspace("Sample workspace", seed="sample-v1")
    acme = ws.add_space("Acme Product")
    home = ws.add_space("Personal")
    roadmap_f = ws.add_folder(acme, "Roadmap")
    eng_f = ws.add_folder(acme, "Engineering")
    gtm_f = ws.add_folder(acme, "Go-to-Market")
    house_f = ws.add_folder(home, "Home")
    learn_f = ws.add_folder(home, "Learning")

    crowd = people(60, rng)
    # (space, folder, outline or None, members, minutes since T0 of the last view)
    plan: list[tuple[str, str | None, str | None, int, int]] = [
        (acme, roadmap_f, ROADMAP, 8, 9_000),
        (acme, eng_f, LAUNCH, LAUNCH_MEMBERS, 9_600),
        (acme, eng_f, None, 12, 9_500),  # the bug backlog
        (acme, gtm_f, WEBSITE, 6, 7_200),
        (acme, gtm_f, INTERVIEWS, 4, 4_300),
        (acme, None, INBOX, 2, 9_900),
        (home, house_f, KITCHEN, 2, 8_100),
        (home, learn_f, READING, 1, 2_000),
        (home, None, LISBON, 2, 6_600),
    ]
    project_ids: list[str] = []
    for space_id, folder_id, outline, n_members, minutes in plan:
        rows: list[tuple[int, str, bool]]
        if outline is None:
            name, rows = "Bug Triage Backlog", _bug_backlog(rng, BUG_BACKLOG_TASKS)
        else:
            name, parsed = parse_outline(outline)
            rows = list(parsed)
        project_id = ws.add_project(space_id, name, folder_id, viewed_at=_T0 + minutes * 60_000)
        ws.add_outline(project_id, rows)
        start = rng.randrange(0, len(crowd) - n_members + 1) if n_members < 45 else 0
        for person in crowd[start : start + n_members]:
            ws.add_member(project_id, person["handle"], person["displayName"])
        project_ids.append(project_id)
    roadmap, launch, bugs, website, interviews, _inbox, kitchen, reading, lisbon = project_ids

    shapes = {
        shape.get("displayName") or shape.get("title") or shape["type"]: shape
        for shape in field_shapes()
    }
    field_plan = {
        roadmap: ("Status", "Owner", "Due", "Impact"),
        launch: ("Status", "Owner", "Due", "Estimate", "boolean"),
        bugs: ("Status", "Owner", "Impact", "Estimate", "Notes"),
        website: ("Status", "Due", "Budget"),
        interviews: ("Notes", "Impact"),
        kitchen: ("Budget", "Due", "boolean"),
        reading: ("Impact",),
    }
    for project_id, names in field_plan.items():
        for name in names:
            ws.add_field(project_id, shapes[name])
    # Its own random stream, so adding details left everything else as it was.
    details_rng = random.Random("taskade-frames sample task details v1")
    for project_id in project_ids:
        add_task_details(ws, project_id, details_rng)

    blocks = {
        roadmap: [
            ("Goals for the quarter", False),
            ("Owner: Priya Patel", False),
            ("Review with leadership on 2 September", True),
        ],
        launch: [("Launch date: 15 October", False), ("Go/no-go checklist", False)],
        bugs: [("Triage rules: P1 within 24 h, P2 within a week", False)],
        website: [("Brief", False), ("Open questions", False)],
        interviews: [("Interview script v3", False)],
        kitchen: [("Contractor: Rossi & Sons", False), ("Deposit paid", True)],
        lisbon: [("Packing list", False)],
    }
    for project_id, items in blocks.items():
        for text, done in items:
            ws.add_block(project_id, text, done)

    for project_id in (roadmap, website, reading):
        share = {
            "viewUrl": f"https://www.taskade.com/d/{project_id}?share=view",
            "editUrl": f"https://www.taskade.com/d/{project_id}?share=edit",
        }
        if project_id == website:
            share["checkUrl"] = f"https://www.taskade.com/d/{website}?share=check"
        ws.projects[project_id].share = share

    tools = {
        "project_reader": "Reads the tasks of the agent's knowledge projects.",
        "web_search": "Searches the web for current information.",
    }
    roadmap_agent = ws.add_agent(
        acme,
        "Roadmap Assistant",
        folder_id=roadmap_f,
        description="Answers questions about the roadmap and the mobile launch.",
        tools={**tools, "calendar": "Reads the team calendar for milestone dates."},
        data=_agent_data(
            "You are the product team's roadmap assistant. You know the quarterly roadmap "
            "and the mobile launch plan, and you answer with the current status, what is "
            "blocked and who owns the next step. Keep answers short and cite task names.",
            "🗺️",
            "confident",
            [
                (
                    "Summarize Open Tasks",
                    "List every open task in the knowledge projects, "
                    "grouped by theme, and name the owner of each when the project says who owns "
                    "it, so that the team can see at a glance what is left to do this quarter.",
                )
            ],
        ),
        knowledge_project_ids=[roadmap, launch],
    )
    bug_agent = ws.add_agent(
        acme,
        "Bug Triage Bot",
        folder_id=eng_f,
        description="Suggests priorities and duplicates for incoming bug reports.",
        tools={"project_reader": tools["project_reader"]},
        data=_agent_data(
            "You help engineers triage bug reports: find likely duplicates in the backlog, "
            "suggest a priority from the triage rules and name the component.",
            "🐞",
            "formal",
            [],
        ),
        knowledge_project_ids=[bugs],
    )
    writer_agent = ws.add_agent(
        acme,
        "Marketing Copywriter",
        folder_id=gtm_f,
        description="Drafts website copy and announcements from interview notes.",
        tools={**tools},
        data=_agent_data(
            "You write clear, friendly marketing copy grounded in what customers told us "
            "in interviews and in the website redesign plan.",
            "✍️",
            "friendly",
            [
                (
                    "Draft Announcement",
                    "Write a short product announcement of about one "
                    "hundred and fifty words for the blog, using the customer interview notes "
                    "for concrete benefits and the website plan for the launch timing.",
                )
            ],
        ),
        knowledge_project_ids=[website, interviews],
        public={
            "data": {
                "avatar": {"type": "emoji", "data": {"value": "✍️"}},
                "conversationStarters": [
                    {
                        "id": "announce",
                        "text": "Draft a launch announcement",
                        "prompt": "Draft a launch announcement for Mobile App 2.0.",
                    },
                    {"id": "tagline", "text": "Suggest five taglines"},
                ],
            },
            "preferences": {
                "mode": "chatbot",
                "canCopyKnowledge": False,
                "hideBranding": False,
                "theme": "auto",
                "autoEndChats": True,
                "color": "#4F46E5",
                "meta": {
                    "title": "Acme Copywriter",
                    "description": "Marketing copy from the Acme product team.",
                },
                "launcherIcon": {"type": "emoji", "value": "✍️"},
            },
        },
    )
    home_agent = ws.add_agent(  # in the space's home folder, as the Inbox project is
        home,
        "Home Planner",
        description="Keeps the renovation and travel plans on track.",
        tools={
            "project_reader": tools["project_reader"],
            "weather": "Looks up the weather forecast for a city.",
        },
        data=_agent_data("You help plan home projects and trips.", "🏡", "warm", []),
        knowledge_project_ids=[kitchen, lisbon],
    )

    hour = 3_600_000
    for i in range(25):  # more than one default page of 20
        topic, answer = _ROADMAP_TOPICS[i % len(_ROADMAP_TOPICS)]
        updater = crowd[i % 8]["displayName"]
        status = _STATUSES[i % len(_STATUSES)]
        convo: dict[str, Any] = {"llm": _LLMS[i % len(_LLMS)]}
        if status != "in_progress":
            convo["endedAt"] = _T0 + (i + 1) * 7 * hour
        ws.add_conversation(
            roadmap_agent,
            f"Status of {topic}" + (f" (week {i // 5 + 1})" if i >= 5 else ""),
            _transcript(
                [
                    (f"Where are we on {topic}?", answer),
                    ("Who should I ask about it?", f"{updater} updated it last; start there."),
                    ("Thanks!", "Anytime."),
                ]
            ),
            status=status,
            data=convo,
        )
    for agent_id, talks in (
        (
            bug_agent,
            [
                (
                    "Triage BUG-2107",
                    "Likely a duplicate of an older iOS crash; "
                    "suggest P2 and assign to the iOS app component.",
                )
            ],
        ),
        (
            writer_agent,
            [
                ("Tagline ideas", "1. Plan together. 2. Your team, in sync. 3. From idea to done."),
                (
                    "Announcement draft",
                    "Mobile App 2.0 brings offline mode and a faster, calmer design.",
                ),
            ],
        ),
        (
            home_agent,
            [
                ("Cabinet hardware", "Brushed brass handles pair well with quartz."),
                ("Lisbon food", "Try Pastéis de Belém early to skip the queue."),
                ("Electrician", "Book at least two weeks before the tiler."),
            ],
        ),
    ):
        for j, (title, answer) in enumerate(talks):
            ws.add_conversation(
                agent_id,
                title,
                _transcript([(title + "?", answer), ("Great, thanks.", "Happy to help.")]),
                status="idle",
                data={"llm": _LLMS[j % len(_LLMS)], "endedAt": _T0 + (j + 30) * hour},
            )

    kinds = ("image", "image", "document", "video", "audio", "spreadsheet")
    for i in range(130):  # more than one default page of 100
        ws.add_media(
            acme, kinds[i % len(kinds)], folder_id=gtm_f, name=f"campaign-asset-{i + 1:03d}"
        )
    for i, name in enumerate(("architecture-diagram.png", "incident-review.pdf", "load-test.csv")):
        ws.add_media(acme, ("image", "document", "spreadsheet")[i], folder_id=eng_f, name=name)
    for i, name in enumerate(("floor-plan.pdf", "tiles.jpg", "lisbon-map.png")):
        # One in the Home folder, two in the space's home folder (the space id lists them).
        ws.add_media(
            home,
            ("document", "image", "image")[i],
            folder_id=house_f if i == 0 else None,
            name=name,
        )

    template_names = (
        "Product brief",
        "Sprint planning",
        "Retrospective",
        "OKR tracker",
        "Launch plan",
        "Bug report",
        "Meeting notes",
        "One-on-one",
        "Roadmap",
        "Design review",
        "Release checklist",
        "Incident postmortem",
        "Hiring plan",
        "Onboarding checklist",
        "Competitive analysis",
        "User interview guide",
        "Content calendar",
        "RACI matrix",
        "Weekly status",
        "Risk register",
        "Budget tracker",
        "Decision log",
        "Feature request intake",
        "QA test plan",
        "Quarterly review",
    )
    for name in template_names:  # more than one default page of 20
        ws.add_template(acme, name, folder_id=roadmap_f)
    for i, name in enumerate(("Meal plan", "Packing list", "Home maintenance")):
        ws.add_template(home, name, folder_id=house_f if i == 0 else None)
    return ws


def sample_workspace() -> Workspace:
    """The sample workspace: ``data_samples/workspace.json`` if present, else rebuilt."""
    if SAMPLE_FILE.is_file():
        return Workspace.load(SAMPLE_FILE)
    return build_sample()
