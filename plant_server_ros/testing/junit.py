"""
JUnit XML of a campaign: one test case per episode, a failure per failed episode.

The usual shape CI servers read (Jenkins, GitLab, GitHub actions)::

    <testsuites><testsuite name tests failures errors skipped time>
      <testcase classname name time>
        <failure message type>every reason, one per line</failure>
        <system-err>the controller's last stderr lines</system-err>

The failure message names each failed criterion with its measured value and
limit (or the runner's reason: a hang, an early exit, a fall).
"""

import xml.etree.ElementTree as ET


def to_xml(campaign, suite='dip_test'):
    """Return the JUnit XML text of a CampaignResult."""
    episodes = campaign.episodes
    total_time = sum(e.wall_time for e in episodes)
    root = ET.Element('testsuites', name=suite, tests=str(len(episodes)),
                      failures=str(len(campaign.failed)), errors='0',
                      time=f'{total_time:.3f}')
    classname = f'{suite}.{_stem(campaign.source)}'
    node = ET.SubElement(root, 'testsuite', name=classname, tests=str(len(episodes)),
                         failures=str(len(campaign.failed)), errors='0', skipped='0',
                         time=f'{total_time:.3f}')
    props = ET.SubElement(node, 'properties')
    for key, value in (('source', campaign.source), ('door', campaign.door),
                       ('mode', campaign.mode), ('interrupted', str(campaign.interrupted))):
        ET.SubElement(props, 'property', name=key, value=str(value))
    for e in episodes:
        case = ET.SubElement(node, 'testcase', classname=classname, name=e.name,
                             time=f'{e.wall_time:.3f}')
        if not e.passed:
            kind = 'controller' if e.reason and e.reason.startswith('controller') else \
                ('plant' if e.reason or any(f.startswith('plant') for f in e.failures)
                 else 'criteria')
            if any(f.startswith('regression') for f in e.failures) and kind == 'criteria':
                kind = 'regression'
            failure = ET.SubElement(case, 'failure', message='; '.join(e.failures), type=kind)
            failure.text = '\n'.join(e.failures)
        out = [f'ended: {e.ended}'] + [f'{c["criterion"]}: {c["value"]} (limit {c["limit"]}) '
                                       f'{"ok" if c["passed"] else "FAILED"}' for c in e.checks]
        ET.SubElement(case, 'system-out').text = '\n'.join(out)
        if e.stderr:
            ET.SubElement(case, 'system-err').text = '\n'.join(e.stderr)
    ET.indent(root)
    return ET.tostring(root, encoding='unicode', xml_declaration=True) + '\n'


def _stem(source):
    name = str(source).rsplit('/', 1)[-1]
    return name[:-5] if name.endswith('.yaml') else name


def write(campaign, path):
    """Write the JUnit XML of ``campaign`` to ``path``."""
    with open(path, 'w', encoding='utf-8') as f:
        f.write(to_xml(campaign))
