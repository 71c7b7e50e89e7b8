// SPDX-License-Identifier: MIT
// UI strings in English and Simplified Chinese, the current language (navigator.language or
// the navbar switch, remembered in localStorage) and locale-aware number/time formatting.
import { USAGE_STRINGS } from './strings_usage.js';

const STRINGS = {
  en: {
    'app.name': 'lanmon',
    'nav.overview': 'Overview',
    'nav.events': 'Events',
    'nav.gpus': 'GPUs',
    'nav.manage': 'Manage servers',
    'nav.theme.dark': 'Switch to dark theme',
    'nav.theme.light': 'Switch to light theme',
    'nav.language': 'Language',
    'nav.main': 'Main navigation',

    'conn.lost': 'Cannot reach the aggregator.',
    'conn.last_ok': 'Last successful refresh: {time} ({ago}).',
    'conn.never': 'No successful refresh yet.',
    'conn.retrying': 'Retrying every 5 s…',

    'status.online': 'online',
    'status.degraded': 'degraded',
    'status.offline': 'offline',
    'status.disabled': 'disabled',
    'status.unknown': 'unknown',

    'common.loading': 'Loading…',
    'common.never': 'never',
    'common.none': '—',
    'common.no_data': 'no data',
    'common.cancel': 'Cancel',
    'common.ok': 'OK',
    'common.save': 'Save',
    'common.close': 'Close',
    'common.delete': 'Delete',
    'common.edit': 'Edit',
    'common.enable': 'Enable',
    'common.disable': 'Disable',
    'common.all': 'All',
    'common.error': 'Error: {msg}',
    'common.back': 'Back',
    'common.yes': 'yes',
    'common.no': 'no',
    'common.page_not_found': 'Page not found.',
    'common.go_overview': 'Go to the overview',

    'ov.title': 'Servers',
    'ov.summary': '{online} of {total} online',
    'ov.search': 'Filter by name or host',
    'ov.filter_status': 'Status',
    'ov.sort': 'Sort by',
    'ov.sort.name': 'Name',
    'ov.sort.status': 'Status (problems first)',
    'ov.sort.cpu': 'CPU (highest first)',
    'ov.sort.gpu': 'GPU (highest first)',
    'ov.empty': 'No servers yet.',
    'ov.empty_add': 'Add a server',
    'ov.no_match': 'No server matches the filter.',
    'ov.last_seen': 'last seen {ago}',
    'ov.cpu': 'CPU',
    'ov.mem': 'Memory',
    'ov.disk': 'Disk',
    'ov.disk_first': 'Disk (first mount)',
    'ov.gpu': 'GPU',
    'ov.gpu_count': '{n} GPU(s)',
    'ov.gpu_mem': 'GPU memory',
    'ov.no_gpu': 'no GPU',
    'ov.failed_units': 'Failed units',
    'ov.no_sample': 'No data received yet.',
    'ov.pages': 'Pages',
    'ov.prev': 'Previous page',
    'ov.next': 'Next page',
    'ov.page_info': 'Showing {from}–{to} of {total}',
    'ov.page_of': 'Page {page} of {pages}',
    'load.overloaded': 'The aggregator is overloaded: polls start {lag} late, so every server is polled less often than every {interval}. No server is reported offline because of it.',
    'ov.gpus': 'GPUs',
    'ov.gpus_free': '{free} free / {total}',
    'ov.gpu_errors': '{n} in error',

    'gpu.title': 'GPUs',
    'gpu.summary': '{free} of {total} GPUs free',
    'gpu.state.free': 'free',
    'gpu.state.busy': 'busy',
    'gpu.state.idle': 'idle',
    'gpu.state.error': 'error',
    'gpu.state.unknown': 'unknown',
    'gpu.free_only': 'Free only',
    'gpu.search': 'Filter by server, GPU or user',
    'gpu.sort.server': 'Server',
    'gpu.sort.state': 'State (free first)',
    'gpu.sort.util': 'Utilisation (highest first)',
    'gpu.sort.mem': 'Free memory (most first)',
    'gpu.sort.since': 'Longest in its state',
    'gpu.col.server': 'Server',
    'gpu.col.gpu': 'GPU',
    'gpu.col.state': 'State',
    'gpu.col.util': 'Utilisation',
    'gpu.col.mem': 'Memory',
    'gpu.col.temp': 'Temp.',
    'gpu.col.users': 'Users (processes)',
    'gpu.col.since': 'Since',
    'gpu.short.util': 'Util.',
    'gpu.short.mem': 'Mem.',
    'gpu.stale': 'stale',
    'gpu.stale_note': 'Offline: last values from {ago}.',
    'gpu.no_users': 'no processes',
    'gpu.hidden_user': 'unknown user',
    'gpu.more': '(more not listed)',
    'gpu.only_server': 'Only {name}',
    'gpu.all_servers': 'Show all servers',
    'gpu.empty': 'No server has reported a GPU yet.',
    'gpu.no_match': 'No GPU matches the filter.',
    'gpu.none_free': 'No GPU is free right now.',

    'det.title': 'Server',
    'det.not_found': 'There is no server with id {id}.',
    'det.agent': 'Agent',
    'det.node_id': 'Node ID',
    'det.version': 'Agent version',
    'det.uptime': 'Uptime',
    'det.cpu_count': 'CPUs',
    'det.load': 'Load (1/5/15 min)',
    'det.address': 'Address',
    'det.last_seen': 'Last seen',
    'det.last_error': 'Last error',
    'det.history': 'History',
    'det.range.1h': '1 h',
    'det.range.24h': '24 h',
    'det.range.7d': '7 d',
    'det.range.30d': '30 d',
    'det.chart.cpu': 'CPU %',
    'det.chart.gpu': 'GPU utilisation %',
    'det.chart.mem': 'Memory %',
    'det.chart.disk': 'Disk % (first mount)',
    'det.series.value': 'value',
    'det.series.avg': 'hourly average',
    'det.series.max': 'hourly maximum',
    'det.series.partial': 'current hour (partial)',
    'det.partial_note': 'Dashed segment and hollow marker: the current hour is still in progress (partial bucket).',
    'det.chart_empty': 'No data in this range.',
    'det.chart_error': 'Could not load the chart: {msg}',
    'det.gpus': 'GPUs',
    'det.gpu.index': '#',
    'det.gpu.name': 'Name',
    'det.gpu.util': 'Utilisation',
    'det.gpu.mem': 'Memory',
    'det.gpu.temp': 'Temperature',
    'det.gpu.power': 'Power',
    'det.gpu.none': 'No GPU reported.',
    'det.gpu.state': 'State',
    'det.health': 'Health',
    'det.health.ecc': 'ECC: {unc} uncorrected, {corr} corrected',
    'det.health.ecc_off': 'ECC off',
    'det.health.remap_ok': 'remapped rows: {n}, none pending',
    'det.health.remap_pending': 'row remapping pending (reset the GPU)',
    'det.health.remap_failed': 'row remapping failed (service the GPU)',
    'det.health.throttle': 'throttled: {reasons}',
    'det.health.no_throttle': 'not throttled',
    'det.health.fan': 'fan {pct}',
    'det.health.power_limit': 'limit {w} W',
    'det.health.xid': 'last Xid {code} {ago}',
    'det.health.no_xid': 'no Xid',
    'det.proc.title': 'GPU {index}',
    'det.proc.user': 'User',
    'det.proc.pid': 'PID',
    'det.proc.command': 'Command',
    'det.proc.mem': 'GPU memory',
    'det.proc.container': 'Container',
    'det.proc.running': 'Running for',
    'det.proc.none': 'No process on this GPU.',
    'det.proc.unavailable': 'The agent does not report processes for this GPU (gpu_processes off, or the driver cannot list them).',
    'det.proc.truncated': 'Only the 64 processes using the most memory are listed.',
    'det.disks': 'Disks',
    'det.disk.mount': 'Mount',
    'det.disk.used': 'Used',
    'det.disk.pct': 'Usage',
    'det.disk.none': 'No disk reported.',
    'det.disk.stale': 'stale',
    'det.units': 'Units',
    'det.unit.name': 'Unit',
    'det.unit.state': 'State',
    'det.unit.sub': 'Sub-state',
    'det.unit.since': 'Since',
    'det.unit.none': 'No units are watched. Pick some with “Discover services” in Manage servers.',
    'det.unit.unknown': 'unknown',
    'det.manage': 'Edit settings',
    'det.problem': 'Problem',

    'ev.title': 'Events',
    'ev.server': 'Server',
    'ev.type': 'Type',
    'ev.time': 'Time',
    'ev.message': 'Message',
    'ev.all_servers': 'All servers',
    'ev.all_types': 'All types',
    'ev.none': 'No events.',
    'ev.newest': 'Newest',
    'ev.older': 'Older',
    'ev.deleted_server': '(deleted)',
    'ev.type.server_down': 'server down',
    'ev.type.server_up': 'server up',
    'ev.type.service_failed': 'service failed',
    'ev.type.service_recovered': 'service recovered',
    'ev.type.server_key_pinned': 'key pinned',
    'ev.type.server_key_changed': 'key changed',
    'ev.type.server_added': 'server added',
    'ev.type.server_removed': 'server removed',
    'ev.type.gpu_error': 'GPU error',
    'ev.type.gpu_recovered': 'GPU recovered',
    'ev.type.gpu_idle': 'GPU idle',

    'mg.title': 'Manage servers',
    'mg.add': 'Add server',
    'mg.name': 'Name',
    'mg.address': 'Address',
    'mg.status': 'Status',
    'mg.units': 'Units',
    'mg.enabled': 'Enabled',
    'mg.actions': 'Actions',
    'mg.empty': 'No servers yet. Add the first one.',
    'mg.confirm_delete_title': 'Delete server?',
    'mg.confirm_delete': 'Delete “{name}”? Its history — hourly samples and unit states — will be deleted permanently. Past events stay in the event log.',
    'mg.confirm_delete_hint': 'To keep the history, disable the server instead.',
    'mg.deleted': 'Server “{name}” deleted.',
    'mg.saved': 'Server “{name}” saved.',
    'mg.enabled_msg': 'Server “{name}” enabled.',
    'mg.disabled_msg': 'Server “{name}” disabled.',
    'mg.admin_set': 'Admin token set for this session',
    'mg.admin_unset': 'Changes need the admin token',
    'mg.admin_forget': 'Forget token',
    'mg.admin_enter': 'Enter token',

    'form.add_title': 'Add server',
    'form.edit_title': 'Edit server “{name}”',
    'form.name': 'Name',
    'form.name_hint': '1–64 characters, unique (letter case and spacing do not make a new name).',
    'form.host': 'Host',
    'form.host_hint': 'IP address or DNS name of the machine running monitor-agent.',
    'form.port': 'Agent port',
    'form.token': 'Agent token',
    'form.token_hint': 'The token from the agent’s config.yaml. It is never shown again.',
    'form.token_keep': 'set — leave empty to keep',
    'form.token_unset': 'not set',
    'form.services': 'Watched units',
    'form.services_hint': 'One systemd unit per line, e.g. nginx.service.',
    'form.enabled': 'Poll this server',
    'form.save': 'Save',
    'form.saving': 'Saving…',
    'form.not_found': 'There is no server with id {id}.',
    'form.errors': 'Please correct the highlighted fields.',
    'form.discover': 'Discover services',
    'form.discover_title': 'Services on the agent',
    'form.discover_loading': 'Asking the agent…',
    'form.discover_empty': 'The agent reported no services.',
    'form.discover_save': 'Save selection',
    'form.discover_saved': 'Watched units saved: {n}.',
    'form.discover_hint': 'Tick the units to watch; units not listed here are kept.',
    'form.discover_add_first': 'Save the server first to discover its services.',
    'form.tls': 'Encrypt with TLS (HTTPS)',
    'form.tls_hint': 'Agents installed from the packages serve HTTPS. Turn off only for an agent without tls: in its config.yaml.',
    'form.pin': 'Agent key pin',
    'form.pin_hint': 'Paste the pin the agent printed at install (sha256//…), or leave empty: the first contact pins the key.',
    'form.pin_invalid': 'A pin is sha256// followed by 44 base64 characters.',
    'form.ca': 'CA file (optional)',
    'form.ca_hint': 'A CA certificate file on the aggregator’s machine: the chain and host name are verified instead of a pin.',
    'det.tls': 'Connection',
    'det.pin': 'Key pin',
    'tls.state.off': 'plain HTTP',
    'tls.state.unpinned': 'TLS · not pinned yet',
    'tls.state.pinned': 'TLS · pinned',
    'tls.state.ca': 'TLS · CA verified',
    'tls.state.key_changed': 'key changed',
    'tls.hint.off': 'Polled without encryption: the agent token crosses the network in clear. Enable TLS on the agent and for this server.',
    'tls.hint.unpinned': 'The next successful poll pins the agent’s key.',
    'tls.hint.pinned': 'Encrypted; the agent’s key must match the pin.',
    'tls.hint.ca': 'Encrypted; the certificate chain and host name are verified with the CA file.',
    'tls.hint.key_changed': 'The agent presented a different key: its data is refused.',
    'tls.repin': 'Trust the new key',
    'tls.repinned': 'The new key is pinned at the next poll.',
    'tls.key_changed_title': 'The agent’s TLS key changed',
    'tls.key_changed_text': 'Data from this server is refused. If the agent was reinstalled or its key renewed, compare its pin (monitor-agent --print-pin) and trust the new key; otherwise something else answers at its address.',

    'val.name': 'Name must be 1 to 64 characters.',
    'val.name_ctrl': 'Name must not contain control, invisible or text-direction characters.',
    'val.host': 'Enter an IP address or a DNS name.',
    'val.port': 'Port must be an integer from 1 to 65535.',
    'val.token': 'The token is required.',
    'val.token_long': 'The token is at most 512 characters.',
    'val.token_chars': 'The token must not contain line breaks or tabs, nor start or end with a space.',
    'val.services': '“{unit}” is not a systemd unit name (e.g. nginx.service).',
    'val.services_dup': '“{unit}” is listed twice.',
    'val.services_many': 'At most 64 units.',

    'admin.title': 'Admin token',
    'admin.text': 'Adding, editing and deleting servers needs the aggregator’s admin token (admin_token in its config.yaml). It is kept only for this browser session.',
    'admin.label': 'Admin token',
    'admin.rejected': 'The aggregator refused the request: {reason}',
    'admin.required': 'Enter the admin token.',
    'admin.cancelled': 'Cancelled: no admin token given.',

    'ago.s': '{n} s ago',
    'ago.m': '{n} min ago',
    'ago.h': '{n} h ago',
    'ago.d': '{n} d ago',
  },
  'zh-CN': {
    'app.name': 'lanmon',
    'nav.overview': '概览',
    'nav.events': '事件',
    'nav.gpus': 'GPU',
    'nav.manage': '服务器管理',
    'nav.theme.dark': '切换到深色主题',
    'nav.theme.light': '切换到浅色主题',
    'nav.language': '语言',
    'nav.main': '主导航',

    'conn.lost': '无法连接到中心节点（aggregator）。',
    'conn.last_ok': '上次成功刷新：{time}（{ago}）。',
    'conn.never': '尚未成功刷新。',
    'conn.retrying': '每 5 秒重试…',

    'status.online': '在线',
    'status.degraded': '异常',
    'status.offline': '离线',
    'status.disabled': '已停用',
    'status.unknown': '未知',

    'common.loading': '加载中…',
    'common.never': '从未',
    'common.none': '—',
    'common.no_data': '无数据',
    'common.cancel': '取消',
    'common.ok': '确定',
    'common.save': '保存',
    'common.close': '关闭',
    'common.delete': '删除',
    'common.edit': '编辑',
    'common.enable': '启用',
    'common.disable': '停用',
    'common.all': '全部',
    'common.error': '错误：{msg}',
    'common.back': '返回',
    'common.yes': '是',
    'common.no': '否',
    'common.page_not_found': '页面不存在。',
    'common.go_overview': '返回概览',

    'ov.title': '服务器',
    'ov.summary': '{total} 台中 {online} 台在线',
    'ov.search': '按名称或地址筛选',
    'ov.filter_status': '状态',
    'ov.sort': '排序',
    'ov.sort.name': '名称',
    'ov.sort.status': '状态（异常优先）',
    'ov.sort.cpu': 'CPU（从高到低）',
    'ov.sort.gpu': 'GPU（从高到低）',
    'ov.empty': '还没有服务器。',
    'ov.empty_add': '添加服务器',
    'ov.no_match': '没有符合筛选条件的服务器。',
    'ov.last_seen': '最后在线 {ago}',
    'ov.cpu': 'CPU',
    'ov.mem': '内存',
    'ov.disk': '磁盘',
    'ov.disk_first': '磁盘（第一个挂载点）',
    'ov.gpu': 'GPU',
    'ov.gpu_count': '{n} 块 GPU',
    'ov.gpu_mem': 'GPU 显存',
    'ov.no_gpu': '无 GPU',
    'ov.failed_units': '失败的服务',
    'ov.no_sample': '尚未收到数据。',
    'ov.pages': '分页',
    'ov.prev': '上一页',
    'ov.next': '下一页',
    'ov.page_info': '显示第 {from}–{to} 台，共 {total} 台',
    'ov.page_of': '第 {page} / {pages} 页',
    'load.overloaded': '中心节点负载过高：轮询比计划晚 {lag} 开始，每台服务器的轮询间隔都长于 {interval}。不会因此把任何服务器判为离线。',
    'ov.gpus': 'GPU',
    'ov.gpus_free': '{free} 空闲 / {total}',
    'ov.gpu_errors': '{n} 块故障',

    'gpu.title': 'GPU',
    'gpu.summary': '{total} 块 GPU 中 {free} 块空闲',
    'gpu.state.free': '空闲',
    'gpu.state.busy': '忙碌',
    'gpu.state.idle': '占用闲置',
    'gpu.state.error': '故障',
    'gpu.state.unknown': '未知',
    'gpu.free_only': '只看空闲',
    'gpu.search': '按服务器、GPU 或用户筛选',
    'gpu.sort.server': '服务器',
    'gpu.sort.state': '状态（空闲优先）',
    'gpu.sort.util': '利用率（从高到低）',
    'gpu.sort.mem': '空闲显存（从多到少）',
    'gpu.sort.since': '当前状态持续最久',
    'gpu.col.server': '服务器',
    'gpu.col.gpu': 'GPU',
    'gpu.col.state': '状态',
    'gpu.col.util': '利用率',
    'gpu.col.mem': '显存',
    'gpu.col.temp': '温度',
    'gpu.col.users': '用户（进程数）',
    'gpu.col.since': '持续',
    'gpu.short.util': '利用率',
    'gpu.short.mem': '显存',
    'gpu.stale': '数据过期',
    'gpu.stale_note': '服务器离线：以下为 {ago}的最后数据。',
    'gpu.no_users': '无进程',
    'gpu.hidden_user': '未知用户',
    'gpu.more': '（还有未列出的进程）',
    'gpu.only_server': '仅 {name}',
    'gpu.all_servers': '显示全部服务器',
    'gpu.empty': '还没有服务器报告 GPU。',
    'gpu.no_match': '没有符合筛选条件的 GPU。',
    'gpu.none_free': '目前没有空闲的 GPU。',

    'det.title': '服务器',
    'det.not_found': '没有 id 为 {id} 的服务器。',
    'det.agent': 'Agent',
    'det.node_id': '节点 ID',
    'det.version': 'Agent 版本',
    'det.uptime': '运行时间',
    'det.cpu_count': 'CPU 数',
    'det.load': '负载（1/5/15 分钟）',
    'det.address': '地址',
    'det.last_seen': '最后在线',
    'det.last_error': '最近错误',
    'det.history': '历史',
    'det.range.1h': '1 小时',
    'det.range.24h': '24 小时',
    'det.range.7d': '7 天',
    'det.range.30d': '30 天',
    'det.chart.cpu': 'CPU %',
    'det.chart.gpu': 'GPU 利用率 %',
    'det.chart.mem': '内存 %',
    'det.chart.disk': '磁盘 %（第一个挂载点）',
    'det.series.value': '数值',
    'det.series.avg': '小时平均',
    'det.series.max': '小时最大',
    'det.series.partial': '当前小时（未完成）',
    'det.partial_note': '虚线段和空心点：当前小时尚未结束（未完成的桶）。',
    'det.chart_empty': '此时间范围内没有数据。',
    'det.chart_error': '图表加载失败：{msg}',
    'det.gpus': 'GPU',
    'det.gpu.index': '#',
    'det.gpu.name': '型号',
    'det.gpu.util': '利用率',
    'det.gpu.mem': '显存',
    'det.gpu.temp': '温度',
    'det.gpu.power': '功耗',
    'det.gpu.none': '未报告 GPU。',
    'det.gpu.state': '状态',
    'det.health': '健康',
    'det.health.ecc': 'ECC：{unc} 个不可纠正错误，{corr} 个已纠正',
    'det.health.ecc_off': 'ECC 关闭',
    'det.health.remap_ok': '已重映射行：{n}，无待处理',
    'det.health.remap_pending': '行重映射待处理（需重置 GPU）',
    'det.health.remap_failed': '行重映射失败（需维修 GPU）',
    'det.health.throttle': '降频原因：{reasons}',
    'det.health.no_throttle': '未降频',
    'det.health.fan': '风扇 {pct}',
    'det.health.power_limit': '功率上限 {w} W',
    'det.health.xid': '最近 Xid {code}（{ago}）',
    'det.health.no_xid': '无 Xid',
    'det.proc.title': 'GPU {index}',
    'det.proc.user': '用户',
    'det.proc.pid': 'PID',
    'det.proc.command': '命令',
    'det.proc.mem': '显存',
    'det.proc.container': '容器',
    'det.proc.running': '已运行',
    'det.proc.none': '此 GPU 上没有进程。',
    'det.proc.unavailable': '代理未报告此 GPU 的进程（gpu_processes 已关闭，或驱动无法列出）。',
    'det.proc.truncated': '只列出显存占用最多的 64 个进程。',
    'det.disks': '磁盘',
    'det.disk.mount': '挂载点',
    'det.disk.used': '已用',
    'det.disk.pct': '使用率',
    'det.disk.none': '未报告磁盘。',
    'det.disk.stale': '过期',
    'det.units': '服务',
    'det.unit.name': '服务单元',
    'det.unit.state': '状态',
    'det.unit.sub': '子状态',
    'det.unit.since': '自',
    'det.unit.none': '未监控任何服务。可在“服务器管理”中用“发现服务”勾选。',
    'det.unit.unknown': '未知',
    'det.manage': '编辑设置',
    'det.problem': '问题',

    'ev.title': '事件',
    'ev.server': '服务器',
    'ev.type': '类型',
    'ev.time': '时间',
    'ev.message': '内容',
    'ev.all_servers': '全部服务器',
    'ev.all_types': '全部类型',
    'ev.none': '没有事件。',
    'ev.newest': '最新',
    'ev.older': '更早',
    'ev.deleted_server': '（已删除）',
    'ev.type.server_down': '服务器掉线',
    'ev.type.server_up': '服务器恢复',
    'ev.type.service_failed': '服务失败',
    'ev.type.service_recovered': '服务恢复',
    'ev.type.server_key_pinned': '密钥已固定',
    'ev.type.server_key_changed': '密钥已变更',
    'ev.type.server_added': '添加服务器',
    'ev.type.server_removed': '删除服务器',
    'ev.type.gpu_error': 'GPU 故障',
    'ev.type.gpu_recovered': 'GPU 恢复',
    'ev.type.gpu_idle': 'GPU 闲置',

    'mg.title': '服务器管理',
    'mg.add': '添加服务器',
    'mg.name': '名称',
    'mg.address': '地址',
    'mg.status': '状态',
    'mg.units': '服务',
    'mg.enabled': '已启用',
    'mg.actions': '操作',
    'mg.empty': '还没有服务器，请添加第一台。',
    'mg.confirm_delete_title': '删除服务器？',
    'mg.confirm_delete': '删除“{name}”？它的历史数据（小时数据和服务状态）将被永久删除，过去的事件仍保留在事件日志中。',
    'mg.confirm_delete_hint': '如需保留历史，请改为停用该服务器。',
    'mg.deleted': '已删除服务器“{name}”。',
    'mg.saved': '已保存服务器“{name}”。',
    'mg.enabled_msg': '已启用服务器“{name}”。',
    'mg.disabled_msg': '已停用服务器“{name}”。',
    'mg.admin_set': '本会话已设置管理口令',
    'mg.admin_unset': '修改需要管理口令',
    'mg.admin_forget': '清除口令',
    'mg.admin_enter': '输入口令',

    'form.add_title': '添加服务器',
    'form.edit_title': '编辑服务器“{name}”',
    'form.name': '名称',
    'form.name_hint': '1–64 个字符，不可重复（仅大小写或空格不同视为同名）。',
    'form.host': '主机',
    'form.host_hint': '运行 monitor-agent 的机器的 IP 地址或域名。',
    'form.port': 'Agent 端口',
    'form.token': 'Agent 令牌',
    'form.token_hint': 'Agent 的 config.yaml 中的 token。保存后不再显示。',
    'form.token_keep': '已设置 — 留空则保持不变',
    'form.token_unset': '未设置',
    'form.services': '监控的服务',
    'form.services_hint': '每行一个 systemd 单元，例如 nginx.service。',
    'form.enabled': '采集此服务器',
    'form.save': '保存',
    'form.saving': '保存中…',
    'form.not_found': '没有 id 为 {id} 的服务器。',
    'form.errors': '请修正标出的字段。',
    'form.discover': '发现服务',
    'form.discover_title': 'Agent 上的服务',
    'form.discover_loading': '正在询问 Agent…',
    'form.discover_empty': 'Agent 没有报告任何服务。',
    'form.discover_save': '保存所选',
    'form.discover_saved': '已保存监控的服务：{n} 个。',
    'form.discover_hint': '勾选要监控的服务；不在此列表中的服务保持不变。',
    'form.discover_add_first': '请先保存服务器，再发现服务。',
    'form.tls': '使用 TLS（HTTPS）加密',
    'form.tls_hint': '通过安装包安装的 Agent 默认提供 HTTPS。仅当 Agent 的 config.yaml 中没有 tls: 时才关闭。',
    'form.pin': 'Agent 密钥指纹',
    'form.pin_hint': '粘贴 Agent 安装时打印的指纹（sha256//…），或留空：首次连接时固定密钥。',
    'form.pin_invalid': '指纹格式为 sha256// 加 44 个 base64 字符。',
    'form.ca': 'CA 文件（可选）',
    'form.ca_hint': '聚合器所在机器上的 CA 证书文件：将验证证书链和主机名，而不是指纹。',
    'det.tls': '连接',
    'det.pin': '密钥指纹',
    'tls.state.off': '明文 HTTP',
    'tls.state.unpinned': 'TLS · 尚未固定',
    'tls.state.pinned': 'TLS · 已固定密钥',
    'tls.state.ca': 'TLS · CA 已验证',
    'tls.state.key_changed': '密钥已变更',
    'tls.hint.off': '未加密采集：Agent 令牌以明文在网络中传输。请在 Agent 和此服务器上启用 TLS。',
    'tls.hint.unpinned': '下一次成功采集时将固定 Agent 的密钥。',
    'tls.hint.pinned': '已加密；Agent 的密钥必须与固定值一致。',
    'tls.hint.ca': '已加密；使用 CA 文件验证证书链和主机名。',
    'tls.hint.key_changed': 'Agent 出示了不同的密钥：其数据被拒绝。',
    'tls.repin': '信任新密钥',
    'tls.repinned': '下一次采集时将固定新密钥。',
    'tls.key_changed_title': 'Agent 的 TLS 密钥已变更',
    'tls.key_changed_text': '此服务器的数据被拒绝。如果 Agent 已重装或更新了密钥，请核对其指纹（monitor-agent --print-pin）后信任新密钥；否则可能有其他机器冒用其地址。',

    'val.name': '名称须为 1 到 64 个字符。',
    'val.name_ctrl': '名称不能包含控制字符、不可见字符或文字方向控制字符。',
    'val.host': '请输入 IP 地址或域名。',
    'val.port': '端口须为 1 到 65535 之间的整数。',
    'val.token': '令牌为必填项。',
    'val.token_long': '令牌最多 512 个字符。',
    'val.token_chars': '令牌不能包含换行符或制表符，也不能以空格开头或结尾。',
    'val.services': '“{unit}”不是 systemd 单元名（例如 nginx.service）。',
    'val.services_dup': '“{unit}”重复。',
    'val.services_many': '最多 64 个服务。',

    'admin.title': '管理口令',
    'admin.text': '添加、编辑和删除服务器需要中心节点的管理口令（config.yaml 中的 admin_token）。口令只保存在本次浏览器会话中。',
    'admin.label': '管理口令',
    'admin.rejected': '中心节点拒绝了请求：{reason}',
    'admin.required': '请输入管理口令。',
    'admin.cancelled': '已取消：未提供管理口令。',

    'ago.s': '{n} 秒前',
    'ago.m': '{n} 分钟前',
    'ago.h': '{n} 小时前',
    'ago.d': '{n} 天前',
  },
};

for (const code of Object.keys(USAGE_STRINGS)) Object.assign(STRINGS[code], USAGE_STRINGS[code]);

export const LANGS = [
  { code: 'en', label: 'English' },
  { code: 'zh-CN', label: '中文' },
];

const listeners = new Set();

function storedLang() {
  try {
    return localStorage.getItem('lanmon.lang');
  } catch {
    return null;
  }
}

function detectLang() {
  const s = storedLang();
  if (s && STRINGS[s]) return s;
  return /^zh\b/i.test(navigator.language || '') ? 'zh-CN' : 'en';
}

let current = detectLang();
document.documentElement.setAttribute('lang', current);

export function lang() {
  return current;
}

export function setLang(code) {
  if (!STRINGS[code] || code === current) return;
  current = code;
  try {
    localStorage.setItem('lanmon.lang', code);
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  document.documentElement.setAttribute('lang', code);
  for (const fn of listeners) fn(code);
}

export function onLangChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

// t('ov.summary', {online: 1, total: 2}); unknown keys fall back to English, then the key.
export function t(key, vars) {
  let s = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
  return s;
}

// Keys present in one language but not the other (used by the tests).
export function missingKeys() {
  const en = Object.keys(STRINGS.en), zh = Object.keys(STRINGS['zh-CN']);
  return {
    zh: en.filter((k) => !(k in STRINGS['zh-CN'])),
    en: zh.filter((k) => !(k in STRINGS.en)),
  };
}

const nfCache = new Map();
function nf(digits) {
  const k = current + digits;
  let f = nfCache.get(k);
  if (!f) {
    f = new Intl.NumberFormat(current, { maximumFractionDigits: digits });
    nfCache.set(k, f);
  }
  return f;
}

export function fmtNumber(v, digits = 1) {
  return v === null || v === undefined || Number.isNaN(v) ? t('common.none') : nf(digits).format(v);
}

export function fmtPct(v) {
  return v === null || v === undefined ? t('common.none') : `${nf(1).format(v)}%`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
export function fmtBytes(v) {
  if (v === null || v === undefined) return t('common.none');
  let i = 0;
  let x = Number(v);
  while (Math.abs(x) >= 1024 && i < UNITS.length - 1) {
    x /= 1024;
    i++;
  }
  return `${nf(i === 0 ? 0 : 1).format(x)} ${UNITS[i]}`;
}

export function fmtMiB(mb) {
  return mb === null || mb === undefined ? t('common.none') : fmtBytes(mb * 1024 * 1024);
}

// Server clock minus browser clock in ms, learned from the Date header of API replies, so that
// "N s ago" is right even when the two clocks disagree by more than a second or two.
let skewMs = 0;
export function setServerDate(dateHeader) {
  const ms = Date.parse(dateHeader || '');
  if (Number.isNaN(ms)) return;
  const d = ms - Date.now();
  // The header has 1 s resolution: ignore differences that small.
  skewMs = Math.abs(d) > 2000 ? d : 0;
}

export function serverNow() {
  return Date.now() + skewMs;
}

// "5 s ago" / "5 秒前" for an ISO time or ms timestamp, relative to the server's clock.
export function fmtAgo(ts) {
  if (ts === null || ts === undefined) return t('common.never');
  const ms = typeof ts === 'number' ? ts : Date.parse(ts);
  if (Number.isNaN(ms)) return t('common.none');
  const s = Math.max(0, Math.round((serverNow() - ms) / 1000));
  if (s < 90) return t('ago.s', { n: s });
  if (s < 90 * 60) return t('ago.m', { n: Math.round(s / 60) });
  if (s < 36 * 3600) return t('ago.h', { n: Math.round(s / 3600) });
  return t('ago.d', { n: Math.round(s / 86400) });
}

const dtfCache = new Map();
// Absolute time in the browser's time zone.
export function fmtTime(ts, withDate = true) {
  if (ts === null || ts === undefined) return t('common.none');
  const ms = typeof ts === 'number' ? ts : Date.parse(ts);
  if (Number.isNaN(ms)) return t('common.none');
  const k = current + withDate;
  let f = dtfCache.get(k);
  if (!f) {
    f = new Intl.DateTimeFormat(current, withDate
      ? { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' }
      : { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    dtfCache.set(k, f);
  }
  return f.format(new Date(ms));
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return t('common.none');
  let s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  const zh = current === 'zh-CN';
  const parts = [];
  if (d) parts.push(zh ? `${d} 天` : `${d} d`);
  if (h || d) parts.push(zh ? `${h} 小时` : `${h} h`);
  parts.push(zh ? `${m} 分钟` : `${m} min`);
  return parts.join(' ');
}

// A short delay: "850 ms", "12 s", "3.5 min" (and in Chinese).
export function fmtDurationMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return t('common.none');
  const zh = current === 'zh-CN';
  if (ms < 1000) return zh ? `${nf(0).format(ms)} 毫秒` : `${nf(0).format(ms)} ms`;
  if (ms < 90000) return zh ? `${nf(1).format(ms / 1000)} 秒` : `${nf(1).format(ms / 1000)} s`;
  return zh ? `${nf(1).format(ms / 60000)} 分钟` : `${nf(1).format(ms / 60000)} min`;
}
