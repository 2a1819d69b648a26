"""
JUnit XML of a campaign: one test case per episode, a failure per failed episode.

A set of episodes (``episodes: N``) is a testsuite ``set:NAME`` of its own, one
test case ``pass_rate`` with the verdict, its rate and interval as properties
(its episodes are in the JSON).

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
    sets = list(getattr(campaign, 'sets', ()))
    judged = {i for item in sets for i in item.indices}
    episodes = [e for e in campaign.episodes if e.index not in judged]   # a set: its suite
    failed = sum(1 for e in episodes if not e.passed)
    total_time = sum(e.wall_time for e in campaign.episodes)
    root = ET.Element('testsuites', name=suite, tests=str(len(episodes) + len(sets)),
                      failures=str(failed + sum(1 for item in sets if not item.passed)),
                      errors='0', time=f'{total_time:.3f}')
    classname = f'{suite}.{_stem(campaign.source)}'
    node = ET.SubElement(root, 'testsuite', name=classname, tests=str(len(episodes)),
                         failures=str(failed), errors='0', skipped='0',
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
    for item in sets:
        set_suite(root, item)
    ET.indent(root)
    return ET.tostring(root, encoding='unicode', xml_declaration=True) + '\n'


def set_suite(root, item):
    """Add a set's testsuite ``set:NAME``: its pass-rate verdict, rate and interval."""
    node = ET.SubElement(root, 'testsuite', name=f'set:{item.name}', tests='1',
                         failures='0' if item.passed else '1', errors='0', skipped='0')
    props = ET.SubElement(node, 'properties')
    for key, value in (('episodes', item.episodes), ('passed_episodes', item.passed_episodes),
                       ('pass_rate', f'{item.rate:.6f}'), ('lower_bound', f'{item.lower:.6f}'),
                       ('interval', f'{item.interval[0]:.6f} {item.interval[1]:.6f}'),
                       ('confidence', item.confidence), ('min', item.minimum)):
        ET.SubElement(props, 'property', name=key, value=str(value))
    case = ET.SubElement(node, 'testcase', classname=f'set:{item.name}', name='pass_rate')
    if not item.passed:
        failure = ET.SubElement(case, 'failure', message='; '.join(item.failures), type='set')
        failure.text = '\n'.join(item.failures)
    ET.SubElement(case, 'system-out').text = '\n'.join(
        [item.describe()] + [f'worst #{w["index"]} seed {w["seed"]}: {w["why"] or "passed"}; '
                             f'replay: {w["replay"]}' for w in item.worst])


def _stem(source):
    name = str(source).rsplit('/', 1)[-1]
    return name[:-5] if name.endswith('.yaml') else name


def write(campaign, path):
    """Write the JUnit XML of ``campaign`` to ``path``."""
    with open(path, 'w', encoding='utf-8') as f:
        f.write(to_xml(campaign))
