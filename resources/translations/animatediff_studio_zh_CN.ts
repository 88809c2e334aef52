<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>CompareDialog</name>
    <message>
        <source>Compare {0} and {1}</source>
        <translation>对比 {0} 与 {1}</translation>
    </message>
    <message>
        <source>{0} · seed {1} · {2}</source>
        <translation>{0} · 种子 {1} · {2}</translation>
    </message>
</context>
<context>
    <name>ExportDialog</name>
    <message>
        <source>PNG frames</source>
        <translation>PNG 序列帧</translation>
    </message>
    <message>
        <source>Export cancelled; nothing was written.</source>
        <translation>导出已取消，未写入任何文件。</translation>
    </message>
    <message>
        <source>Export</source>
        <translation>导出</translation>
    </message>
    <message>
        <source>Format</source>
        <translation>格式</translation>
    </message>
    <message>
        <source>GIF plays everywhere; MP4 is small and sharp; WebM for the web; WebP lossless; PNG frames for editing.</source>
        <translation>GIF 随处可播放；MP4 体积小、画质清晰；WebM 适合网页；WebP 无损；PNG 序列帧便于后期编辑。</translation>
    </message>
    <message>
        <source>File</source>
        <translation>文件</translation>
    </message>
    <message>
        <source>Choose where to save</source>
        <translation>选择保存位置</translation>
    </message>
    <message>
        <source>Export fps</source>
        <translation>导出帧率（fps）</translation>
    </message>
    <message>
        <source>Frames per second of the exported clip</source>
        <translation>导出片段的每秒帧数</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>尺寸</translation>
    </message>
    <message>
        <source>Original</source>
        <translation>原始尺寸</translation>
    </message>
    <message>
        <source>Custom</source>
        <translation>自定义</translation>
    </message>
    <message>
        <source>None (smallest, no flicker)</source>
        <translation>无（体积最小，无闪烁）</translation>
    </message>
    <message>
        <source>Floyd-Steinberg (smoother gradients)</source>
        <translation>误差扩散（渐变更平滑）</translation>
    </message>
    <message>
        <source>Forever</source>
        <translation>无限循环</translation>
    </message>
    <message>
        <source>Once</source>
        <translation>播放一次</translation>
    </message>
    <message>
        <source>Ping-pong (forward, then back)</source>
        <translation>往返播放（先正放，再倒放）</translation>
    </message>
    <message>
        <source>MP4/WebM quality (CRF): lower is better and bigger. 18 looks lossless; 28 is small.</source>
        <translation>MP4/WebM 画质（CRF）：数值越低画质越好、文件越大。18 近乎无损；28 体积较小。</translation>
    </message>
    <message>
        <source>Also write the settings as a .json file</source>
        <translation>同时将生成参数另存为 .json 文件</translation>
    </message>
    <message>
        <source>Open the folder when done</source>
        <translation>完成后打开所在文件夹</translation>
    </message>
    <message>
        <source>Save to</source>
        <translation>保存到</translation>
    </message>
    <message>
        <source>Frames</source>
        <translation>帧范围</translation>
    </message>
    <message>
        <source>FPS</source>
        <translation>帧率</translation>
    </message>
    <message>
        <source>GIF dithering</source>
        <translation>GIF 抖动</translation>
    </message>
    <message>
        <source>Loop</source>
        <translation>循环</translation>
    </message>
    <message>
        <source>MP4/WebM quality</source>
        <translation>MP4/WebM 画质</translation>
    </message>
    <message>
        <source>{0} to {1} ({2} frames; set with I and O in the player)</source>
        <translation>第 {0} 帧至第 {1} 帧（共 {2} 帧；可在播放器中按 I 和 O 设置）</translation>
    </message>
    <message>
        <source>Folder for the PNG frames</source>
        <translation>PNG 序列帧的保存文件夹</translation>
    </message>
    <message>
        <source>Export as</source>
        <translation>导出为</translation>
    </message>
    <message>
        <source>Writing {0}…</source>
        <translation>正在写入 {0}…</translation>
    </message>
    <message>
        <source>Saved {0}.</source>
        <translation>已保存 {0}。</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
</context>
<context>
    <name>FrameView</name>
    <message>
        <source>Frame view</source>
        <translation>画面预览</translation>
    </message>
    <message>
        <source>No frames yet: write a prompt and press Generate (Ctrl+Enter).</source>
        <translation>还没有画面：请输入提示词，然后点击“生成”（Ctrl+Enter）。</translation>
    </message>
</context>
<context>
    <name>HelpDialogs</name>
    <message>
        <source>Generate (while a job runs: add to the queue)</source>
        <translation>生成（有任务运行时：加入队列）</translation>
    </message>
    <message>
        <source>Cancel the running job</source>
        <translation>取消正在运行的任务</translation>
    </message>
    <message>
        <source>Export the clip shown</source>
        <translation>导出当前显示的片段</translation>
    </message>
    <message>
        <source>New project / open a project</source>
        <translation>新建项目 / 打开项目</translation>
    </message>
    <message>
        <source>Save the project / save it as</source>
        <translation>保存项目 / 项目另存为</translation>
    </message>
    <message>
        <source>Bring back the last deleted take</source>
        <translation>恢复最近删除的镜头</translation>
    </message>
    <message>
        <source>Play / pause (player focused)</source>
        <translation>播放 / 暂停（播放器获得焦点时）</translation>
    </message>
    <message>
        <source>Previous / next frame</source>
        <translation>上一帧 / 下一帧</translation>
    </message>
    <message>
        <source>First / last frame</source>
        <translation>第一帧 / 最后一帧</translation>
    </message>
    <message>
        <source>Set the in / out point</source>
        <translation>设置入点 / 出点</translation>
    </message>
    <message>
        <source>Loop, ping-pong or once</source>
        <translation>切换循环、往返或单次播放</translation>
    </message>
    <message>
        <source>Copy the frame shown</source>
        <translation>复制当前画面</translation>
    </message>
    <message>
        <source>Getting started</source>
        <translation>快速入门</translation>
    </message>
    <message>
        <source>Read me</source>
        <translation>自述文件</translation>
    </message>
    <message>
        <source>About AnimateDiff Studio</source>
        <translation>关于 AnimateDiff Studio</translation>
    </message>
    <message>
        <source>
&lt;h2&gt;Getting started&lt;/h2&gt;
&lt;ol&gt;
&lt;li&gt;&lt;b&gt;Write a prompt&lt;/b&gt; at the top: what should move, and how it looks. The negative prompt
lists what to avoid.&lt;/li&gt;
&lt;li&gt;&lt;b&gt;Pick the models.&lt;/b&gt; The defaults are the ones the diffusers documentation uses; they
download once (a few GB). &lt;i&gt;Tiny demo model&lt;/i&gt; works offline at once, but only makes noise: use
it to try the app.&lt;/li&gt;
&lt;li&gt;&lt;b&gt;Press Generate&lt;/b&gt; (Ctrl+Enter). The progress bar shows the step and the time left; the
player shows a preview while the frames form, then the finished clip.&lt;/li&gt;
&lt;li&gt;Every clip becomes a &lt;b&gt;take&lt;/b&gt; in the strip under the player, with the exact settings that
made it. Select one to play it and load its settings; &lt;i&gt;Vary seed&lt;/i&gt; makes a variation.&lt;/li&gt;
&lt;li&gt;&lt;b&gt;Export…&lt;/b&gt; (Ctrl+E) writes GIF, MP4, WebM, WebP or PNG frames, with the settings inside.
Save the project (Ctrl+S) to keep every take; unsaved takes are autosaved every few seconds and
offered back after a crash.&lt;/li&gt;
&lt;/ol&gt;
&lt;p&gt;Video to video: drop a video on the window. Longer clips, FreeInit, FreeU, prompt travel and
memory options are under the parameters and models sections.&lt;/p&gt;
</source>
        <translation>
&lt;h2&gt;快速入门&lt;/h2&gt;
&lt;ol&gt;
&lt;li&gt;在顶部&lt;b&gt;输入提示词&lt;/b&gt;：描述什么在动、画面是什么样子。反向提示词列出你不想出现的内容。&lt;/li&gt;
&lt;li&gt;&lt;b&gt;选择模型。&lt;/b&gt;默认模型与 diffusers 官方文档中使用的相同，只需下载一次（几 GB）。
&lt;i&gt;Tiny demo model&lt;/i&gt;（微型演示模型）无需联网即可使用，但只会生成噪点：用它来试用本软件。&lt;/li&gt;
&lt;li&gt;&lt;b&gt;点击“生成”&lt;/b&gt;（Ctrl+Enter）。进度条会显示当前步数和剩余时间；画面成形时播放器会显示预览，完成后播放最终片段。&lt;/li&gt;
&lt;li&gt;每个片段都会成为播放器下方缩略图条中的一个&lt;b&gt;镜头&lt;/b&gt;，并记录生成它的全部参数。选中一个镜头即可播放并载入其参数；
&lt;i&gt;换种子&lt;/i&gt;可生成一个变体。&lt;/li&gt;
&lt;li&gt;&lt;b&gt;导出…&lt;/b&gt;（Ctrl+E）可导出 GIF、MP4、WebM、WebP 或 PNG 序列帧，并在文件中写入生成参数。
保存项目（Ctrl+S）即可保留所有镜头；未保存的镜头每隔几秒自动保存，程序崩溃后可以恢复。&lt;/li&gt;
&lt;/ol&gt;
&lt;p&gt;视频转视频：把视频拖到窗口上即可。更长的片段、FreeInit、FreeU、提示词切换以及内存选项，
都在参数和模型区域中。&lt;/p&gt;
</translation>
    </message>
    <message>
        <source>not installed</source>
        <translation>未安装</translation>
    </message>
    <message>
        <source>Device</source>
        <translation>设备</translation>
    </message>
    <message>
        <source>chosen when the models load (CUDA or Apple GPU if present, else CPU)</source>
        <translation>加载模型时自动选择（优先 CUDA 或 Apple GPU，否则使用 CPU）</translation>
    </message>
    <message>
        <source>Settings</source>
        <translation>设置文件</translation>
    </message>
    <message>
        <source>Recovery files</source>
        <translation>恢复文件</translation>
    </message>
    <message>
        <source>Models (Hugging Face cache)</source>
        <translation>模型（Hugging Face 缓存）</translation>
    </message>
    <message>
        <source>Short animations from text or video with AnimateDiff, on your own computer.</source>
        <translation>用 AnimateDiff 在你自己的电脑上，由文字或视频生成短动画。</translation>
    </message>
    <message>
        <source>Licences: AnimateDiff Studio is Apache-2.0. PyTorch (BSD-3-Clause), diffusers, transformers and huggingface_hub (Apache-2.0), Qt for Python (LGPL-3.0), imageio (BSD-2-Clause) with FFmpeg (LGPL/GPL), Pillow (MIT-CMU). Models carry their own licences: see each model&apos;s card before you use its output.</source>
        <translation>许可证：AnimateDiff Studio 采用 Apache-2.0 许可。PyTorch（BSD-3-Clause）、diffusers、transformers 与 huggingface_hub（Apache-2.0）、Qt for Python（LGPL-3.0）、imageio（BSD-2-Clause）及 FFmpeg（LGPL/GPL）、Pillow（MIT-CMU）。各模型有其自己的许可证：使用其生成内容前，请先查看该模型的模型卡。</translation>
    </message>
    <message>
        <source>Keyboard shortcuts</source>
        <translation>键盘快捷键</translation>
    </message>
    <message>
        <source>Keys</source>
        <translation>按键</translation>
    </message>
    <message>
        <source>What they do</source>
        <translation>功能</translation>
    </message>
    <message>
        <source>The README is not installed with this copy of AnimateDiff Studio.</source>
        <translation>此 AnimateDiff Studio 副本未附带 README 自述文件。</translation>
    </message>
</context>
<context>
    <name>LanguageMenu</name>
    <message>
        <source>&amp;Language</source>
        <translation>语言(&amp;L)</translation>
    </message>
    <message>
        <source>&amp;System language</source>
        <translation>跟随系统(&amp;S)</translation>
    </message>
    <message>
        <source>The window stays in {0}.</source>
        <translation>界面语言仍为{0}。</translation>
    </message>
    <message>
        <source>The window will be in {0} the next time you start AnimateDiff Studio.</source>
        <translation>下次启动 AnimateDiff Studio 时，界面语言将切换为{0}。</translation>
    </message>
</context>
<context>
    <name>ModelsWindow</name>
    <message>
        <source>Base model</source>
        <translation>基础模型</translation>
    </message>
    <message>
        <source>Motion adapter</source>
        <translation>运动适配器</translation>
    </message>
    <message>
        <source>Motion LoRA</source>
        <translation>运动 LoRA</translation>
    </message>
    <message>
        <source>Image LoRA</source>
        <translation>图像 LoRA</translation>
    </message>
    <message>
        <source>{0}/s</source>
        <translation>{0}/秒</translation>
    </message>
    <message>
        <source>about {0} s left</source>
        <translation>约剩 {0} 秒</translation>
    </message>
    <message>
        <source>Download models?</source>
        <translation>下载模型？</translation>
    </message>
    <message>
        <source>This job needs models that are not downloaded yet:
{0}

Download {1} from the Hugging Face Hub now, then generate? They are kept in the Hugging Face cache for next time.</source>
        <translation>此任务需要尚未下载的模型：
{0}

现在从 Hugging Face Hub 下载 {1}，然后开始生成吗？模型会保存在 Hugging Face 缓存中，下次可直接使用。</translation>
    </message>
    <message>
        <source>Nothing downloaded; the job was not started.</source>
        <translation>未下载任何内容，任务未开始。</translation>
    </message>
    <message>
        <source>Models</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Models — AnimateDiff Studio</source>
        <translation>模型 — AnimateDiff Studio</translation>
    </message>
    <message>
        <source>Model sources</source>
        <translation>模型来源</translation>
    </message>
    <message>
        <source>The Hub catalog and your local model folders</source>
        <translation>Hub 模型目录与你的本地模型文件夹</translation>
    </message>
    <message>
        <source>Local folders</source>
        <translation>本地文件夹</translation>
    </message>
    <message>
        <source>Model catalog</source>
        <translation>模型目录</translation>
    </message>
    <message>
        <source>Well-known models for AnimateDiff. Select one to download, delete or use it.</source>
        <translation>适用于 AnimateDiff 的常用模型。选中一个即可下载、删除或使用。</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Kind</source>
        <translation>类型</translation>
    </message>
    <message>
        <source>Size</source>
        <translation>大小</translation>
    </message>
    <message>
        <source>On this computer</source>
        <translation>本机状态</translation>
    </message>
    <message>
        <source>Download</source>
        <translation>下载</translation>
    </message>
    <message>
        <source>Download the selected model into the Hugging Face cache</source>
        <translation>将选中的模型下载到 Hugging Face 缓存</translation>
    </message>
    <message>
        <source>Cancel</source>
        <translation>取消</translation>
    </message>
    <message>
        <source>Cancel download</source>
        <translation>取消下载</translation>
    </message>
    <message>
        <source>Stop the download (within a second); finished files are kept</source>
        <translation>停止下载（一秒内生效）；已下载完成的文件会保留</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Remove the selected model from the Hugging Face cache to free the disk</source>
        <translation>从 Hugging Face 缓存中删除选中的模型，释放磁盘空间</translation>
    </message>
    <message>
        <source>Use</source>
        <translation>使用</translation>
    </message>
    <message>
        <source>Put the selected model in the main window&apos;s model fields</source>
        <translation>将选中的模型填入主窗口的模型栏</translation>
    </message>
    <message>
        <source>Download progress</source>
        <translation>下载进度</translation>
    </message>
    <message>
        <source>Bytes downloaded of the total, speed and time left</source>
        <translation>已下载量与总量、下载速度和剩余时间</translation>
    </message>
    <message>
        <source>Model folders</source>
        <translation>模型文件夹</translation>
    </message>
    <message>
        <source>Folders of .safetensors files (for example an A1111 or ComfyUI models folder)</source>
        <translation>存放 .safetensors 文件的文件夹（例如 A1111 或 ComfyUI 的模型文件夹）</translation>
    </message>
    <message>
        <source>Add folder…</source>
        <translation>添加文件夹…</translation>
    </message>
    <message>
        <source>Add folder</source>
        <translation>添加文件夹</translation>
    </message>
    <message>
        <source>Add a folder of .safetensors models</source>
        <translation>添加一个存放 .safetensors 模型的文件夹</translation>
    </message>
    <message>
        <source>Remove folder</source>
        <translation>移除文件夹</translation>
    </message>
    <message>
        <source>Stop listing the selected folder (its files stay)</source>
        <translation>不再列出选中的文件夹（其中的文件不会删除）</translation>
    </message>
    <message>
        <source>Local models</source>
        <translation>本地模型</translation>
    </message>
    <message>
        <source>Every .safetensors in your folders, told apart from its header</source>
        <translation>你的文件夹中所有的 .safetensors 文件，按文件头识别类型</translation>
    </message>
    <message>
        <source>File</source>
        <translation>文件</translation>
    </message>
    <message>
        <source>Note</source>
        <translation>备注</translation>
    </message>
    <message>
        <source>Use local model</source>
        <translation>使用本地模型</translation>
    </message>
    <message>
        <source>Put the selected file in the matching model field</source>
        <translation>将选中的文件填入对应的模型栏</translation>
    </message>
    <message>
        <source>downloaded · {0}</source>
        <translation>已下载 · {0}</translation>
    </message>
    <message>
        <source>incomplete · {0}</source>
        <translation>未下载完整 · {0}</translation>
    </message>
    <message>
        <source>not downloaded</source>
        <translation>未下载</translation>
    </message>
    <message>
        <source>not usable with these adapters</source>
        <translation>无法与这些适配器搭配使用</translation>
    </message>
    <message>
        <source>Select a model to see what it is for.</source>
        <translation>选中一个模型，查看它的用途。</translation>
    </message>
    <message>
        <source>{0} · licence: {1} · recommended: {2}</source>
        <translation>{0} · 许可证：{1} · 推荐设置：{2}</translation>
    </message>
    <message>
        <source>asking the Hub…</source>
        <translation>正在连接 Hub…</translation>
    </message>
    <message>
        <source>Downloading {0}…</source>
        <translation>正在下载 {0}…</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>正在取消…</translation>
    </message>
    <message>
        <source>Downloading {0}: {1} (file {2} of {3})</source>
        <translation>正在下载 {0}：{1}（第 {2} 个文件，共 {3} 个）</translation>
    </message>
    <message>
        <source>done</source>
        <translation>完成</translation>
    </message>
    <message>
        <source>Downloaded {0}.</source>
        <translation>已下载 {0}。</translation>
    </message>
    <message>
        <source>cancelled</source>
        <translation>已取消</translation>
    </message>
    <message>
        <source>failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>Download of {0} cancelled.</source>
        <translation>已取消下载 {0}。</translation>
    </message>
    <message>
        <source>Delete model?</source>
        <translation>删除模型？</translation>
    </message>
    <message>
        <source>Delete {0} ({1}) from the Hugging Face cache?</source>
        <translation>要从 Hugging Face 缓存中删除 {0}（{1}）吗？</translation>
    </message>
    <message>
        <source>Could not delete {0}: {1}</source>
        <translation>无法删除 {0}：{1}</translation>
    </message>
    <message>
        <source>Deleted {0}: {1} freed.</source>
        <translation>已删除 {0}，释放了 {1}。</translation>
    </message>
    <message>
        <source>Download {0} first.</source>
        <translation>请先下载 {0}。</translation>
    </message>
    <message>
        <source>Using {0}.</source>
        <translation>正在使用 {0}。</translation>
    </message>
    <message>
        <source>{0} files have no model field here ({1}).</source>
        <translation>{0} 文件在这里没有对应的模型栏（{1}）。</translation>
    </message>
    <message>
        <source>{0} files have no model field here.</source>
        <translation>{0} 文件在这里没有对应的模型栏。</translation>
    </message>
    <message>
        <source>Added {0}: {1} model files in your folders.</source>
        <translation>已添加 {0}：你的文件夹中共有 {1} 个模型文件。</translation>
    </message>
    <message>
        <source>Add a model folder</source>
        <translation>添加模型文件夹</translation>
    </message>
</context>
<context>
    <name>RenderOnPanel</name>
    <message>
        <source>This computer</source>
        <translation>本机</translation>
    </message>
    <message>
        <source>Workers at a broker</source>
        <translation>消息代理上的渲染节点</translation>
    </message>
    <message>
        <source>Cannot check the broker: {0}: {1}</source>
        <translation>无法检查消息代理：{0}：{1}</translation>
    </message>
    <message>
        <source>The broker did not say how many workers are connected.</source>
        <translation>消息代理未告知已连接的渲染节点数量。</translation>
    </message>
    <message>
        <source>No worker connected: jobs wait until one starts.</source>
        <translation>没有已连接的渲染节点：任务将等待，直到有节点启动。</translation>
    </message>
    <message>
        <source>1 worker connected.</source>
        <translation>已连接 1 个渲染节点。</translation>
    </message>
    <message>
        <source>{0} workers connected.</source>
        <translation>已连接 {0} 个渲染节点。</translation>
    </message>
    <message>
        <source>Render on</source>
        <translation>渲染位置</translation>
    </message>
    <message>
        <source>Render here, or on the render workers at a RabbitMQ broker</source>
        <translation>在本机渲染，或交给 RabbitMQ 消息代理上的渲染节点</translation>
    </message>
    <message>
        <source>Broker URL</source>
        <translation>消息代理地址</translation>
    </message>
    <message>
        <source>amqp://user:password@host:5672// or amqps://… (empty: $ADS_BROKER_URL)</source>
        <translation>amqp://用户名:密码@主机:5672// 或 amqps://…（留空：使用 $ADS_BROKER_URL）</translation>
    </message>
    <message>
        <source>Check</source>
        <translation>检查</translation>
    </message>
    <message>
        <source>Check the broker</source>
        <translation>检查消息代理</translation>
    </message>
    <message>
        <source>Connect to the broker and count the workers</source>
        <translation>连接消息代理并统计渲染节点数量</translation>
    </message>
    <message>
        <source>Workers status</source>
        <translation>渲染节点状态</translation>
    </message>
    <message>
        <source>Checking the broker…</source>
        <translation>正在检查消息代理…</translation>
    </message>
    <message>
        <source>Job {0}: {1}</source>
        <translation>任务 {0}：{1}</translation>
    </message>
    <message>
        <source>No worker connected: the job waits until one starts.</source>
        <translation>没有已连接的渲染节点：任务将等待，直到有节点启动。</translation>
    </message>
    <message>
        <source>queued at the broker</source>
        <translation>已在消息代理排队</translation>
    </message>
    <message>
        <source>waiting: no worker connected</source>
        <translation>等待中：没有已连接的渲染节点</translation>
    </message>
    <message>
        <source>on {0}</source>
        <translation>正在 {0} 上运行</translation>
    </message>
    <message>
        <source>requeued: its worker was lost; now on {0}</source>
        <translation>已重新排队：原渲染节点失联；现在在 {0} 上运行</translation>
    </message>
</context>
<context>
    <name>TakesPanel</name>
    <message>
        <source>Takes</source>
        <translation>镜头</translation>
    </message>
    <message>
        <source>Every take of this project. Select one to play it and load its settings; select two to compare.</source>
        <translation>本项目的所有镜头。选中一个即可播放并载入其参数；选中两个可进行对比。</translation>
    </message>
    <message>
        <source>Re-run</source>
        <translation>重新生成</translation>
    </message>
    <message>
        <source>Generate this take again with exactly its settings</source>
        <translation>用完全相同的参数重新生成此镜头</translation>
    </message>
    <message>
        <source>Vary seed</source>
        <translation>换种子</translation>
    </message>
    <message>
        <source>Generate this take again with a new seed</source>
        <translation>用新的种子重新生成此镜头</translation>
    </message>
    <message>
        <source>Rename</source>
        <translation>重命名</translation>
    </message>
    <message>
        <source>Rename the take (or double-click it)</source>
        <translation>重命名镜头（也可双击）</translation>
    </message>
    <message>
        <source>Notes…</source>
        <translation>备注…</translation>
    </message>
    <message>
        <source>Write notes on this take (kept in the project)</source>
        <translation>为此镜头写备注（保存在项目中）</translation>
    </message>
    <message>
        <source>Mark or unmark the take as a favourite</source>
        <translation>收藏或取消收藏此镜头</translation>
    </message>
    <message>
        <source>Favourite</source>
        <translation>收藏</translation>
    </message>
    <message>
        <source>Delete</source>
        <translation>删除</translation>
    </message>
    <message>
        <source>Delete the take (Ctrl+Z brings it back)</source>
        <translation>删除镜头（按 Ctrl+Z 可恢复）</translation>
    </message>
    <message>
        <source>Undo</source>
        <translation>撤销</translation>
    </message>
    <message>
        <source>Bring back the last deleted take (Ctrl+Z)</source>
        <translation>恢复最近删除的镜头（Ctrl+Z）</translation>
    </message>
    <message>
        <source>Compare</source>
        <translation>对比</translation>
    </message>
    <message>
        <source>Play the two selected takes side by side</source>
        <translation>并排播放选中的两个镜头</translation>
    </message>
    <message>
        <source>{0}
seed {1}</source>
        <translation>{0}
种子 {1}</translation>
    </message>
    <message>
        <source>{0} frames, {1}x{2}, {3}</source>
        <translation>{0} 帧，{1}×{2}，{3}</translation>
    </message>
    <message>
        <source>Rename take</source>
        <translation>重命名镜头</translation>
    </message>
    <message>
        <source>Name:</source>
        <translation>名称：</translation>
    </message>
    <message>
        <source>Notes</source>
        <translation>备注</translation>
    </message>
    <message>
        <source>Notes on {0}:</source>
        <translation>{0} 的备注：</translation>
    </message>
</context>
<context>
    <name>ThumbnailStrip</name>
    <message>
        <source>Frame thumbnails</source>
        <translation>帧缩略图</translation>
    </message>
</context>
<context>
    <name>TimelinePlayer</name>
    <message>
        <source>Loop</source>
        <translation>循环</translation>
    </message>
    <message>
        <source>Ping-pong</source>
        <translation>往返</translation>
    </message>
    <message>
        <source>Once</source>
        <translation>单次</translation>
    </message>
    <message>
        <source>Timeline player</source>
        <translation>时间轴播放器</translation>
    </message>
    <message>
        <source>First frame</source>
        <translation>第一帧</translation>
    </message>
    <message>
        <source>Previous frame</source>
        <translation>上一帧</translation>
    </message>
    <message>
        <source>Play / pause</source>
        <translation>播放 / 暂停</translation>
    </message>
    <message>
        <source>Next frame</source>
        <translation>下一帧</translation>
    </message>
    <message>
        <source>Last frame</source>
        <translation>最后一帧</translation>
    </message>
    <message>
        <source>Frame</source>
        <translation>帧</translation>
    </message>
    <message>
        <source>Scrub through the frames</source>
        <translation>拖动浏览各帧</translation>
    </message>
    <message>
        <source>Playback fps</source>
        <translation>播放帧率</translation>
    </message>
    <message>
        <source>Playback speed in frames per second (defaults to the take&apos;s fps)</source>
        <translation>播放速度，单位为每秒帧数（默认为该镜头的 fps）</translation>
    </message>
    <message>
        <source>Loop mode</source>
        <translation>循环模式</translation>
    </message>
    <message>
        <source>Loop, ping-pong (forward then back) or play once (L cycles)</source>
        <translation>循环、往返（先正放再倒放）或只播放一次（按 L 切换）</translation>
    </message>
    <message>
        <source>Zoom</source>
        <translation>缩放</translation>
    </message>
    <message>
        <source>Fit the window, or show at 1x / 2x</source>
        <translation>适应窗口，或按 1x / 2x 显示</translation>
    </message>
    <message>
        <source>Fit</source>
        <translation>适应窗口</translation>
    </message>
    <message>
        <source>Export</source>
        <translation>导出</translation>
    </message>
    <message>
        <source>Export…</source>
        <translation>导出…</translation>
    </message>
    <message>
        <source>Export the in/out range as GIF, MP4, WebM, WebP or PNG frames (Ctrl+E)</source>
        <translation>将入点到出点之间的范围导出为 GIF、MP4、WebM、WebP 或 PNG 序列帧（Ctrl+E）</translation>
    </message>
    <message>
        <source>Copy frame</source>
        <translation>复制画面</translation>
    </message>
    <message>
        <source>Save frame as PNG…</source>
        <translation>将画面另存为 PNG…</translation>
    </message>
    <message>
        <source>Save frame</source>
        <translation>保存画面</translation>
    </message>
    <message>
        <source>preview {0} / {1}  ·  {2} s</source>
        <translation>预览 {0} / {1}  ·  {2} 秒</translation>
    </message>
    <message>
        <source>{0} / {1}  ·  {2} s</source>
        <translation>{0} / {1}  ·  {2} 秒</translation>
    </message>
</context>
</TS>
